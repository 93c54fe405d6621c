package gateway_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/gateway/gateway"
	"github.com/berth-project/berth/services/scheduler/control"
)

const createCluster = "AmazonEC2ContainerServiceV20141113.CreateCluster"

// withScheduler is a test environment (NATS, root key, gateway) with the
// real scheduler answering the cluster operations.
func withScheduler(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.New(t)
	nc := natstest.Connect(t, env.Server)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := control.New(control.Config{Region: testenv.Region, Account: testenv.Account, Replicas: 1}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	env.Go(t, "scheduler", sc.Run)
	select {
	case <-sc.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("scheduler not ready")
	}
	return env
}

// signed builds a CreateCluster call signed by key at the given time, for
// region and service.
func signed(t *testing.T, env *testenv.Env, cluster string, at time.Time, region, service string) *http.Request {
	t.Helper()
	body := fmt.Sprintf(`{"clusterName":%q}`, cluster)
	r, err := http.NewRequest("POST", env.Endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", createCluster)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: env.Key.AccessKeyID, SecretAccessKey: env.Key.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

// awsError is the decoded error body of a failed call.
type awsError struct {
	Status  int
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func do(t *testing.T, r *http.Request) awsError {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e awsError
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("status %d, body %q: %v", resp.StatusCode, data, err)
		}
	}
	e.Status = resp.StatusCode
	return e
}

func clusterNames(t *testing.T, env *testenv.Env) []string {
	t.Helper()
	out, err := env.ECS().ListClusters(t.Context(), &ecs.ListClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, arn := range out.ClusterArns {
		names = append(names, arn[strings.LastIndex(arn, "/")+1:])
	}
	return names
}

// TestGateway_SignatureEdges sends CreateCluster signed in ways AWS refuses
// (and two it accepts): each refused call gets AWS's answer and creates
// nothing.
func TestGateway_SignatureEdges(t *testing.T) {
	env := withScheduler(t)
	now := time.Now()
	cases := []struct {
		name, cluster   string
		req             func(cluster string) *http.Request
		wantType, wantM string
	}{
		{name: "skew 14 min behind", cluster: "skew-minus-14", req: func(c string) *http.Request {
			return signed(t, env, c, now.Add(-14*time.Minute), testenv.Region, "ecs")
		}},
		{name: "skew 14 min ahead", cluster: "skew-plus-14", req: func(c string) *http.Request {
			return signed(t, env, c, now.Add(14*time.Minute), testenv.Region, "ecs")
		}},
		{name: "skew 16 min behind", cluster: "skew-minus-16", wantType: "InvalidSignatureException", wantM: "Signature expired: ", req: func(c string) *http.Request {
			return signed(t, env, c, now.Add(-16*time.Minute), testenv.Region, "ecs")
		}},
		{name: "skew 16 min ahead", cluster: "skew-plus-16", wantType: "InvalidSignatureException", wantM: "Signature not yet current: ", req: func(c string) *http.Request {
			return signed(t, env, c, now.Add(16*time.Minute), testenv.Region, "ecs")
		}},
		{name: "wrong region", cluster: "wrong-region", wantType: "InvalidSignatureException", wantM: "Credential should be scoped to a valid region, not 'eu-west-1'. ", req: func(c string) *http.Request {
			return signed(t, env, c, now, "eu-west-1", "ecs")
		}},
		{name: "wrong service", cluster: "wrong-service", wantType: "InvalidSignatureException", wantM: "Credential should be scoped to correct service: 'ecs'. ", req: func(c string) *http.Request {
			return signed(t, env, c, now, testenv.Region, "ecr")
		}},
		{name: "replayed with a changed body", cluster: "replayed-changed", wantType: "InvalidSignatureException", wantM: "The request signature we calculated does not match", req: func(c string) *http.Request {
			r := signed(t, env, "replayed-original", now, testenv.Region, "ecs")
			body := fmt.Sprintf(`{"clusterName":%q}`, c)
			r.Body = io.NopCloser(strings.NewReader(body))
			r.ContentLength = int64(len(body))
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, tc.req(tc.cluster))
			switch {
			case tc.wantType == "" && got.Status != 200:
				t.Fatalf("want success, got %d %s %q", got.Status, got.Type, got.Message)
			case tc.wantType != "" && (got.Status != 400 || got.Type != tc.wantType || !strings.HasPrefix(got.Message, tc.wantM)):
				t.Fatalf("want 400 %s %q..., got %d %s %q", tc.wantType, tc.wantM, got.Status, got.Type, got.Message)
			}
		})
	}
	got := strings.Join(clusterNames(t, env), ",")
	for _, tc := range cases {
		if created := strings.Contains(got, tc.cluster); created != (tc.wantType == "") {
			t.Errorf("%s: cluster %s created=%v (clusters: %s)", tc.name, tc.cluster, created, got)
		}
	}
	if strings.Contains(got, "replayed-original") {
		t.Errorf("the original of the replayed call was created: %s", got)
	}
}

// TestGateway_UnauthenticatedBodyNotRead posts a 100 MiB body with no
// signature, and with an unknown key: the gateway answers without reading
// it and closes the connection, so the client manages to send only a small
// part (what socket buffers hold).
func TestGateway_UnauthenticatedBodyNotRead(t *testing.T) {
	env := testenv.New(t)
	addr := strings.TrimPrefix(env.Endpoint, "http://")
	for _, tc := range []struct{ name, auth, wantType string }{
		{"no signature", "", "MissingAuthenticationTokenException"},
		{"unknown key", "AWS4-HMAC-SHA256 Credential=AKIAUNKNOWN/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00", "UnrecognizedClientException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 100 << 20
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			hdr := "POST / HTTP/1.1\r\nHost: " + addr + "\r\nX-Amz-Target: " + createCluster + "\r\nContent-Type: application/x-amz-json-1.1\r\n"
			if tc.auth != "" {
				hdr += "Authorization: " + tc.auth + "\r\n"
			}
			hdr += fmt.Sprintf("Content-Length: %d\r\n\r\n", size)
			if _, err := io.WriteString(conn, hdr); err != nil {
				t.Fatal(err)
			}
			var sent atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				chunk := make([]byte, 64<<10)
				for sent.Load() < size {
					_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
					n, err := conn.Write(chunk)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			// A gateway that read the body before answering could not
			// have answered before MaxBody bytes were sent.
			atResponse := sent.Load()
			var e awsError
			_ = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != 400 || e.Type != tc.wantType {
				t.Fatalf("got %d %s %q, want 400 %s", resp.StatusCode, e.Type, e.Message, tc.wantType)
			}
			if resp.Header.Get("Connection") != "close" && !resp.Close {
				t.Errorf("connection left open after an unread body")
			}
			<-done
			if atResponse >= gateway.MaxBody {
				t.Fatalf("answered only after %d KiB of the body were sent: the gateway read it", atResponse>>10)
			}
			if got := sent.Load(); got >= size/4 {
				t.Fatalf("client sent %d MiB of an unauthenticated body: the gateway read it", got>>20)
			}
			t.Logf("client had sent %d KiB when answered, %d KiB of 100 MiB in all", atResponse>>10, sent.Load()>>10)
		})
	}
}

// TestGateway_OversizeBody gets 413 for a signed body over the limit.
func TestGateway_OversizeBody(t *testing.T) {
	env := testenv.New(t)
	body := `{"clusterName":"` + strings.Repeat("x", gateway.MaxBody) + `"}`
	r, err := http.NewRequest("POST", env.Endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Amz-Target", createCluster)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: env.Key.AccessKeyID, SecretAccessKey: env.Key.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, r, hex.EncodeToString(sum[:]), "ecs", testenv.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := do(t, r)
	if got.Status != 413 || got.Type != "RequestEntityTooLargeException" {
		t.Fatalf("got %d %s %q, want 413 RequestEntityTooLargeException", got.Status, got.Type, got.Message)
	}
}

// TestGateway_IdleConnections holds 1,000 idle connections (half of them
// with a partial request) open to the gateway; signed calls are answered
// all the same.
func TestGateway_IdleConnections(t *testing.T) {
	env := withScheduler(t)
	addr := strings.TrimPrefix(env.Endpoint, "http://")
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%2 == 1 {
			if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: "+addr+"\r\n"); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	client := env.ECS()
	for i := range 20 {
		name := fmt.Sprintf("busy-%d", i)
		if _, err := client.CreateCluster(t.Context(), &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatalf("signed call %d with 1,000 idle connections: %v", i, err)
		}
	}
	if n := len(clusterNames(t, env)); n != 20 {
		t.Fatalf("%d clusters, want 20", n)
	}
}

// TestGateway_ConcurrencyCap: with every slot held by a call in flight, one
// more call is refused with ThrottlingException (the SDKs retry it), and
// is served once a slot frees.
func TestGateway_ConcurrencyCap(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.JetStream(t, s)
	key, _, err := accesskeys.Bootstrap(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := accesskeys.Watch(t.Context(), js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var inFlight sync.WaitGroup
	// A subscription's callbacks run one at a time: hold each call on its
	// own goroutine.
	sub, err := nc.Subscribe(events.SubjAPI(events.APIECS, "ListClusters"), func(m *nats.Msg) {
		go func() {
			inFlight.Done()
			<-release
			_ = m.Respond([]byte(`{"clusterArns":[]}`))
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil { // the subscription reaches the server before the gateway's first request
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{Keys: keys, MaxConcurrent: 2}, natstest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-served })

	cfg := (&testenv.Env{Key: key}).AWSConfig()
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String("http://" + l.Addr().String()) })
	inFlight.Add(2)
	results := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := client.ListClusters(context.Background(), &ecs.ListClustersInput{})
			results <- err
		}()
	}
	inFlight.Wait() // both slots are taken by calls the service holds
	_, err = client.ListClusters(t.Context(), &ecs.ListClustersInput{})
	if err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("third call with 2 slots busy: want ThrottlingException, got %v", err)
	}
	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("held call: %v", err)
		}
	}
	inFlight.Add(1)
	if _, err := client.ListClusters(t.Context(), &ecs.ListClustersInput{}); err != nil {
		t.Fatalf("call after slots freed: %v", err)
	}
}
