package pattern

import "testing"

const taskEvent = `{
  "version": "0", "id": "e1", "detail-type": "ECS Task State Change", "source": "aws.ecs",
  "account": "123456789012", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
  "resources": ["arn:aws:ecs:us-east-1:123456789012:task/default/abc"],
  "detail": {
    "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "group": "family:etl",
    "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/default",
    "stopCode": "EssentialContainerExited", "cpu": "256", "version": 5,
    "containers": [
      {"name": "side", "exitCode": 0, "lastStatus": "STOPPED"},
      {"name": "main", "exitCode": 1, "lastStatus": "STOPPED", "reason": null}
    ],
    "attachments": [], "ip": "10.0.1.7", "enabled": true
  }
}`

func TestPattern_Match(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		want    bool
	}{
		{"exact source", `{"source": ["aws.ecs"]}`, true},
		{"exact miss", `{"source": ["aws.ecr"]}`, false},
		{"list of values", `{"source": ["aws.ecr", "aws.ecs"]}`, true},
		{"nested exact", `{"detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"]}}`, true},
		{"array in event, numeric", `{"detail": {"containers": {"exitCode": [{"numeric": [">", 0]}]}}}`, true},
		{"array in event, numeric miss", `{"detail": {"containers": {"exitCode": [{"numeric": [">", 1]}]}}}`, false},
		{"numeric range", `{"detail": {"version": [{"numeric": [">=", 5, "<", 6]}]}}`, true},
		{"numeric equals", `{"detail": {"version": [{"numeric": ["=", 5]}]}}`, true},
		{"numeric exclusive", `{"detail": {"version": [{"numeric": [">", 5]}]}}`, false},
		{"number exact", `{"detail": {"version": [5.0]}}`, true},
		{"numeric on a string", `{"detail": {"cpu": [{"numeric": [">", 1]}]}}`, false},
		{"prefix", `{"detail": {"group": [{"prefix": "family:"}]}}`, true},
		{"prefix ignore case", `{"detail": {"group": [{"prefix": {"equals-ignore-case": "FAMILY:"}}]}}`, true},
		{"suffix", `{"detail": {"group": [{"suffix": ":etl"}]}}`, true},
		{"suffix ignore case", `{"detail": {"group": [{"suffix": {"equals-ignore-case": ":ETL"}}]}}`, true},
		{"suffix miss", `{"detail": {"group": [{"suffix": ":web"}]}}`, false},
		{"equals-ignore-case", `{"detail": {"lastStatus": [{"equals-ignore-case": "stopped"}]}}`, true},
		{"wildcard", `{"resources": [{"wildcard": "arn:aws:ecs:*:task/default/*"}]}`, true},
		{"wildcard miss", `{"resources": [{"wildcard": "arn:aws:ecs:*:task/prod/*"}]}`, false},
		{"anything-but value", `{"detail": {"lastStatus": [{"anything-but": "RUNNING"}]}}`, true},
		{"anything-but list", `{"detail": {"lastStatus": [{"anything-but": ["RUNNING", "STOPPED"]}]}}`, false},
		{"anything-but prefix", `{"detail": {"group": [{"anything-but": {"prefix": "service:"}}]}}`, true},
		{"anything-but suffix", `{"detail": {"group": [{"anything-but": {"suffix": ":etl"}}]}}`, false},
		{"anything-but ignore case", `{"detail": {"lastStatus": [{"anything-but": {"equals-ignore-case": ["stopped"]}}]}}`, false},
		{"anything-but wildcard", `{"detail": {"group": [{"anything-but": {"wildcard": "family:*"}}]}}`, false},
		{"anything-but on missing field", `{"detail": {"nope": [{"anything-but": "x"}]}}`, false},
		{"exists true", `{"detail": {"stopCode": [{"exists": true}]}}`, true},
		{"exists false", `{"detail": {"stoppedReason": [{"exists": false}]}}`, true},
		{"exists false on present", `{"detail": {"stopCode": [{"exists": false}]}}`, false},
		{"null value", `{"detail": {"containers": {"reason": [null]}}}`, true},
		{"boolean", `{"detail": {"enabled": [true]}}`, true},
		{"cidr", `{"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}`, true},
		{"cidr miss", `{"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}`, false},
		{"$or one matches", `{"$or": [{"source": ["aws.ecr"]}, {"detail": {"lastStatus": ["STOPPED"]}}]}`, true},
		{"$or none", `{"$or": [{"source": ["aws.ecr"]}, {"detail": {"lastStatus": ["RUNNING"]}}]}`, false},
		{"$or with another field", `{"source": ["aws.ecs"], "$or": [{"detail": {"cpu": ["512"]}}, {"detail": {"cpu": ["256"]}}]}`, true},
		{"all conditions", `{"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"], "group": ["family:etl"], "containers": {"exitCode": [{"numeric": ["=", 1]}]}}}`, true},
		{"missing nested object", `{"detail": {"overrides": {"cpu": ["1"]}}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile([]byte(tc.pattern))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.MatchJSON([]byte(taskEvent)); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPattern_Compile_Invalid(t *testing.T) {
	for _, p := range []string{
		``, `[]`, `"x"`, `{}`, `{"source": "aws.ecs"}`, `{"source": []}`, `{"source": [{"prefix": 1}]}`,
		`{"source": [{"unknown": "x"}]}`, `{"source": [{"prefix": "a", "suffix": "b"}]}`,
		`{"detail": {"n": [{"numeric": [">", "x"]}]}}`, `{"detail": {"n": [{"numeric": ["!", 1]}]}}`,
		`{"detail": {"n": [{"numeric": [">", 5, "<", 1]}]}}`, `{"detail": {"n": [{"numeric": [">", 1, ">", 2]}]}}`,
		`{"detail": {"n": [{"exists": "yes"}]}}`, `{"$or": [{"source": ["a"]}]}`, `{"$or": "x"}`,
		`{"detail": {"ip": [{"cidr": "nope"}]}}`, `{"source": [{"wildcard": "a**b"}]}`,
		`{"source": [{"anything-but": {"numeric": [">", 1]}}]}`, `{"detail": {}}`,
	} {
		if _, err := Compile([]byte(p)); err == nil {
			t.Errorf("Compile(%s) succeeded", p)
		}
	}
}
