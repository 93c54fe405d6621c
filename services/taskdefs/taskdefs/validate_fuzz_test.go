package taskdefs

import (
	"encoding/json"
	"testing"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// FuzzRegisterTaskDefinition runs arbitrary RegisterTaskDefinition bodies
// through the decoder and the validation: each is refused with an AWS error
// or accepted (never a panic), and an accepted definition registers again
// unchanged from its own JSON (validation is idempotent).
func FuzzRegisterTaskDefinition(f *testing.F) {
	for _, s := range []string{
		`{"family":"sleep360","containerDefinitions":[{"name":"sleep","image":"busybox","command":["sleep","360"],"essential":true}]}`,
		`{"family":"web","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"256","memory":"512","containerDefinitions":[{"name":"httpd","image":"httpd:2.4","portMappings":[{"containerPort":80,"protocol":"tcp"}],"essential":true}]}`,
		`{"family":"x","cpu":"1 vcpu","memory":"2 GB","containerDefinitions":[{"name":"a","image":"i","memory":64,"dependsOn":[{"containerName":"b","condition":"START"}]},{"name":"b","image":"i","memoryReservation":32,"healthCheck":{"command":["CMD","true"],"interval":5}}]}`,
		`{"family":"","containerDefinitions":[]}`, `{"family":"x","containerDefinitions":[{"name":"a"}]}`, `{"family":"x","volumes":[{"name":"v","host":{"sourcePath":"/tmp"}}],"containerDefinitions":[{"name":"a","image":"i","memory":4,"mountPoints":[{"sourceVolume":"v","containerPath":"/v"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req ecsapi.RegisterTaskDefinitionRequest
		if err := natsutil.Decode(body, &req); err != nil {
			if _, ok := apierr.As(err); !ok {
				t.Fatalf("Decode: %v is not an AWS error", err)
			}
			return
		}
		td, err := buildTaskDefinition(&req)
		if err != nil {
			if _, ok := apierr.As(err); !ok {
				t.Fatalf("buildTaskDefinition: %v is not an AWS error", err)
			}
			return
		}
		again := req
		again.ContainerDefinitions = td.ContainerDefinitions
		data, err := json.Marshal(&again)
		if err != nil {
			t.Fatal(err)
		}
		var req2 ecsapi.RegisterTaskDefinitionRequest
		if err := natsutil.Decode(data, &req2); err != nil {
			t.Fatalf("re-decode of %s: %v", data, err)
		}
		if _, err := buildTaskDefinition(&req2); err != nil {
			t.Fatalf("accepted %s, but not its normalised form %s: %v", body, data, err)
		}
	})
}
