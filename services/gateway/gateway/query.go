package gateway

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
)

// isQuery reports whether r uses the AWS query protocol: a form-encoded
// POST without X-Amz-Target.
func isQuery(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// serveQuery answers an AWS query protocol call (Action=...&Version=...):
// the form becomes the service's JSON request, its JSON reply an XML
// <Action>Response. Only routes with an XML namespace (CloudWatch metrics)
// take it.
func (g *Gateway) serveQuery(w http.ResponseWriter, r *http.Request) {
	reqID := ids.UUID()
	route := g.routeBySigningName(r)
	if route == nil || route.API != events.APIMetrics {
		if r.Header.Get("Authorization") == "" {
			writeQueryError(w, reqID, apierr.New(events.CodeMissingAuthToken, "Request is missing Authentication Token"), events.CodeCWInternalServiceFault)
			return
		}
		writeQueryError(w, reqID, apierr.New(events.CodeUnknownOperation, "Berth serves the query protocol for CloudWatch (monitoring) only."), events.CodeCWInternalServiceFault)
		return
	}
	data, op, err := g.call(w, r, reqID, route, func(body []byte) (string, []byte, error) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", nil, apierr.New(events.CodeCWInvalidFormat, "The request body is not a valid form: %s", err.Error())
		}
		op := form.Get("Action")
		if op == "" {
			return "", nil, apierr.New(events.CodeCWMissingParameter, "The parameter Action is required.")
		}
		if v := form.Get("Version"); v != "" && v != events.MetricsAPIVersion {
			return op, nil, apierr.New(events.CodeCWInvalidParameterValue, "The value %s for parameter Version is invalid.", v)
		}
		setOperation(r, op)
		req, err := FormToJSON(form)
		return op, req, err
	})
	if err != nil {
		if _, ok := apierr.As(err); !ok {
			g.cfg.Log.Error("api call failed", "request_id", reqID, "err", err)
		}
		writeQueryError(w, reqID, err, route.Fault)
		return
	}
	out, err := JSONToXML(op, reqID, data)
	if err != nil {
		writeQueryError(w, reqID, err, route.Fault)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// FormToJSON turns query-protocol parameters into a JSON object:
// "A.member.1.B" is element 1 of list A, "A.entry.1.key"/".value" an entry
// of map A; scalars stay strings (the service's types accept them).
// Action, Version and empty values are left out.
func FormToJSON(form url.Values) ([]byte, error) {
	root := map[string]any{}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "Action" || k == "Version" || form.Get(k) == "" {
			continue
		}
		if err := setPath(root, strings.Split(k, "."), form.Get(k)); err != nil {
			return nil, apierr.New(events.CodeCWInvalidParameterValue, "The parameter %s is malformed: %s.", k, err.Error())
		}
	}
	return json.Marshal(normalise(root))
}

// node kinds while building: map[string]any for structures, *list for
// member lists (index → value), *entries for maps.
type list map[int]any

type entries map[int]map[string]any

func setPath(cur map[string]any, path []string, v string) error {
	name := path[0]
	if len(path) == 1 {
		cur[name] = v
		return nil
	}
	switch path[1] {
	case "member":
		if len(path) < 3 {
			return fmt.Errorf("no index")
		}
		i, err := strconv.Atoi(path[2])
		if err != nil || i < 1 {
			return fmt.Errorf("bad index %q", path[2])
		}
		l, _ := cur[name].(list)
		if l == nil {
			l = list{}
			cur[name] = l
		}
		if len(path) == 3 {
			l[i] = v
			return nil
		}
		sub, _ := l[i].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			l[i] = sub
		}
		return setPath(sub, path[3:], v)
	case "entry":
		if len(path) != 4 || (path[3] != "key" && path[3] != "value") {
			return fmt.Errorf("bad map entry")
		}
		i, err := strconv.Atoi(path[2])
		if err != nil || i < 1 {
			return fmt.Errorf("bad index %q", path[2])
		}
		e, _ := cur[name].(entries)
		if e == nil {
			e = entries{}
			cur[name] = e
		}
		if e[i] == nil {
			e[i] = map[string]any{}
		}
		e[i][path[3]] = v
		return nil
	}
	sub, _ := cur[name].(map[string]any)
	if sub == nil {
		sub = map[string]any{}
		cur[name] = sub
	}
	return setPath(sub, path[1:], v)
}

func normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalise(e)
		}
		return x
	case list:
		idx := make([]int, 0, len(x))
		for i := range x {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		out := make([]any, 0, len(idx))
		for _, i := range idx {
			out = append(out, normalise(x[i]))
		}
		return out
	case entries:
		out := map[string]any{}
		for _, e := range x {
			if k, ok := e["key"].(string); ok {
				out[k] = e["value"]
			}
		}
		return out
	}
	return v
}

// JSONToXML renders a service's JSON reply as the query protocol's
// <op>Response/<op>Result document. Lists become <member> elements, maps
// (objects whose keys are not PascalCase) <entry><key/><value/></entry>,
// timestamps ISO 8601.
func JSONToXML(op, reqID string, data []byte) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if len(bytes.TrimSpace(data)) > 0 {
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("gateway: reply is not JSON: %w", err)
		}
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, op, events.MetricsXMLNamespace)
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		fmt.Fprintf(&b, "<%sResult>", op)
		writeXMLValue(&b, "", m)
		fmt.Fprintf(&b, "</%sResult>", op)
	}
	fmt.Fprintf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", reqID, op)
	return b.Bytes(), nil
}

func writeXMLValue(b *bytes.Buffer, key string, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		isMap := false
		for _, k := range keys {
			if k != "" && !unicode.IsUpper(rune(k[0])) {
				isMap = true
			}
		}
		for _, k := range keys {
			if isMap {
				b.WriteString("<entry><key>")
				_ = xml.EscapeText(b, []byte(k))
				b.WriteString("</key><value>")
				writeXMLValue(b, "", x[k])
				b.WriteString("</value></entry>")
				continue
			}
			fmt.Fprintf(b, "<%s>", k)
			writeXMLValue(b, k, x[k])
			fmt.Fprintf(b, "</%s>", k)
		}
	case []any:
		for _, e := range x {
			b.WriteString("<member>")
			writeXMLValue(b, key, e)
			b.WriteString("</member>")
		}
	case json.Number:
		if events.MetricsTimestampMembers[key] {
			if f, err := x.Float64(); err == nil {
				sec := int64(f)
				t := time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
				b.WriteString(t.Format("2006-01-02T15:04:05.000Z"))
				return
			}
		}
		b.WriteString(x.String())
	case string:
		_ = xml.EscapeText(b, []byte(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	}
}

// writeQueryError answers with the query protocol's ErrorResponse.
func writeQueryError(w http.ResponseWriter, reqID string, err error, fault events.Code) {
	code, msg, _ := natsutil.ErrorReply(err, fault)
	qcode, kind := queryCode(code)
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>`, events.MetricsXMLNamespace, kind, qcode)
	_ = xml.EscapeText(&b, []byte(msg))
	fmt.Fprintf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", reqID)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	status := code.HTTPStatus()
	if code == events.CodeCWInternalServiceFault {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// queryCode is the awsQuery error code of code and Sender or Receiver.
func queryCode(code events.Code) (string, string) {
	if q, ok := events.QueryErrorCodes[code]; ok {
		c, kind, _ := strings.Cut(q, ";")
		return c, kind
	}
	kind := "Sender"
	if code.Fault() {
		kind = "Receiver"
	}
	return strings.TrimSuffix(string(code), "Exception"), kind
}
