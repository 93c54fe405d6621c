package control_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/services/scheduler/control"
)

type cliSetting struct {
	Name, Value, PrincipalArn, Type string
}

// TestAccountSettings_CLI: put-account-setting-default containerInsights
// enabled makes new clusters get it (an explicit setting still wins, and
// existing clusters keep theirs); put-account-setting (the caller is the
// root user, whose setting is the default) changes it again;
// list-account-settings with and without --effective-settings;
// delete-account-setting returns to disabled. Bad input gets
// InvalidParameterException and changes nothing.
func TestAccountSettings_CLI(t *testing.T) {
	env := start(t, control.Config{})
	root := "arn:aws:iam::" + testenv.Account + ":root"
	var created struct{ Cluster cliCluster }
	cli(t, env, &created, "ecs", "create-cluster", "--cluster-name", "before")

	var put struct{ Setting cliSetting }
	cli(t, env, &put, "ecs", "put-account-setting-default", "--name", "containerInsights", "--value", "enabled")
	// The Debian CLI 2.9 predates Setting.type: it does not print it.
	if s := put.Setting; s.Name != "containerInsights" || s.Value != "enabled" || s.PrincipalArn != root {
		t.Fatalf("put-account-setting-default: %+v", s)
	}
	insights := func(cluster string) string {
		var d cliDescribe
		cli(t, env, &d, "ecs", "describe-clusters", "--clusters", cluster, "--include", "SETTINGS")
		for _, st := range d.Clusters[0].Settings {
			if st["name"] == "containerInsights" {
				return st["value"]
			}
		}
		return ""
	}
	cli(t, env, &created, "ecs", "create-cluster", "--cluster-name", "after")
	cli(t, env, &created, "ecs", "create-cluster", "--cluster-name", "explicit", "--settings", "name=containerInsights,value=disabled")
	for cluster, want := range map[string]string{"before": "disabled", "after": "enabled", "explicit": "disabled"} {
		if got := insights(cluster); got != want {
			t.Errorf("cluster %s: containerInsights %q, want %q", cluster, got, want)
		}
	}

	cli(t, env, &put, "ecs", "put-account-setting", "--name", "containerInsights", "--value", "enhanced")
	if s := put.Setting; s.Value != "enhanced" || s.PrincipalArn != root {
		t.Fatalf("put-account-setting: %+v", s)
	}
	bob := "arn:aws:iam::" + testenv.Account + ":user/bob"
	cli(t, env, &put, "ecs", "put-account-setting", "--name", "containerInsights", "--value", "disabled", "--principal-arn", bob)
	cli(t, env, &created, "ecs", "create-cluster", "--cluster-name", "enhanced")
	if got := insights("enhanced"); got != "enhanced" {
		t.Errorf("cluster enhanced: containerInsights %q", got)
	}

	var list struct {
		Settings  []cliSetting
		NextToken string
	}
	cli(t, env, &list, "ecs", "list-account-settings")
	if len(list.Settings) != 1 || list.Settings[0] != (cliSetting{"containerInsights", "enhanced", root, ""}) {
		t.Errorf("list-account-settings: %+v", list)
	}
	cli(t, env, &list, "ecs", "list-account-settings", "--principal-arn", bob)
	if len(list.Settings) != 1 || list.Settings[0].Value != "disabled" || list.Settings[0].PrincipalArn != bob {
		t.Errorf("list-account-settings bob: %+v", list)
	}
	cli(t, env, &list, "ecs", "list-account-settings", "--effective-settings")
	if len(list.Settings) != 4 {
		t.Errorf("effective settings: %+v", list)
	}
	for _, s := range list.Settings {
		want := "enabled"
		if s.Name == "containerInsights" {
			want = "enhanced"
		}
		if s.Value != want {
			t.Errorf("effective %s = %s, want %s", s.Name, s.Value, want)
		}
	}
	cli(t, env, &list, "ecs", "list-account-settings", "--name", "containerInsights", "--value", "enabled")
	if len(list.Settings) != 0 {
		t.Errorf("filter by value enabled: %+v", list)
	}

	var del struct{ Setting cliSetting }
	cli(t, env, &del, "ecs", "delete-account-setting", "--name", "containerInsights")
	if del.Setting.Value != "enhanced" || del.Setting.PrincipalArn != root {
		t.Errorf("delete-account-setting: %+v", del.Setting)
	}
	cli(t, env, &list, "ecs", "list-account-settings", "--effective-settings", "--name", "containerInsights")
	if len(list.Settings) != 1 || list.Settings[0].Value != "disabled" {
		t.Errorf("after delete: %+v", list)
	}
	cli(t, env, &created, "ecs", "create-cluster", "--cluster-name", "reset")
	if got := insights("reset"); got != "disabled" {
		t.Errorf("cluster reset: containerInsights %q", got)
	}

	// Bad input: AWS's code, nothing changed (two through the CLI, the
	// rest through the SDK).
	cliFails(t, env, events.CodeInvalidParameter, "Invalid value 'on' for setting 'containerInsights'",
		"ecs", "put-account-setting-default", "--name", "containerInsights", "--value", "on")
	cliFails(t, env, events.CodeInvalidParameter, "Berth does not support the account setting 'awsvpcTrunking'",
		"ecs", "put-account-setting-default", "--name", "awsvpcTrunking", "--value", "enabled")
	c := env.ECS()
	ctx := t.Context()
	name := func(n string) ecstypes.SettingName { return ecstypes.SettingName(n) }
	bad := map[string]func() error{
		"unknown name": func() error {
			_, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: name("nope"), Value: aws.String("enabled")})
			return err
		},
		"long ARN opt-out": func() error {
			_, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: name("taskLongArnFormat"), Value: aws.String("disabled")})
			return err
		},
		"other account": func() error {
			_, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: name("containerInsights"), Value: aws.String("enabled"),
				PrincipalArn: aws.String("arn:aws:iam::999999999999:user/eve")})
			return err
		},
		"not an ARN": func() error {
			_, err := c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: name("containerInsights"), Value: aws.String("enabled"), PrincipalArn: aws.String("bob")})
			return err
		},
		"value without name": func() error {
			_, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{Value: aws.String("enabled")})
			return err
		},
		"maxResults 11": func() error {
			_, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{MaxResults: 11})
			return err
		},
		"bad nextToken": func() error {
			_, err := c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{NextToken: aws.String("garbage")})
			return err
		},
		"delete unknown name": func() error {
			_, err := c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: name("nope")})
			return err
		},
	}
	for what, call := range bad {
		var ipe *ecstypes.InvalidParameterException
		if err := call(); !errors.As(err, &ipe) {
			t.Errorf("%s: %v, want InvalidParameterException", what, err)
		}
	}
	cli(t, env, &list, "ecs", "list-account-settings")
	if len(list.Settings) != 0 {
		t.Errorf("bad input changed the settings: %+v", list)
	}
}

func TestAccountSettings_Paging(t *testing.T) {
	env := start(t, control.Config{})
	var page struct {
		Settings  []cliSetting
		NextToken string
	}
	seen := map[string]bool{}
	token := ""
	for range 5 {
		page.NextToken = ""
		args := []string{"ecs", "list-account-settings", "--effective-settings", "--max-results", "3", "--no-paginate"}
		if token != "" {
			args = append(args, "--next-token", token)
		}
		cli(t, env, &page, args...)
		for _, s := range page.Settings {
			if seen[s.Name] {
				t.Fatalf("%s listed twice", s.Name)
			}
			seen[s.Name] = true
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	if len(seen) != 4 {
		t.Errorf("pages listed %v", seen)
	}
}

// TestAccountSettings_SDKType: the Go SDK v2 sees Setting.type: "user" for
// a setting someone set, "aws_managed" for a value nobody set.
func TestAccountSettings_SDKType(t *testing.T) {
	env := start(t, control.Config{})
	c := env.ECS()
	put, err := c.PutAccountSettingDefault(t.Context(), &ecs.PutAccountSettingDefaultInput{Name: ecstypes.SettingNameContainerInsights, Value: aws.String("enabled")})
	if err != nil || put.Setting.Type != ecstypes.SettingTypeUser || aws.ToString(put.Setting.Value) != "enabled" {
		t.Fatalf("PutAccountSettingDefault: %v %+v", err, put)
	}
	out, err := c.ListAccountSettings(t.Context(), &ecs.ListAccountSettingsInput{EffectiveSettings: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out.Settings {
		want := ecstypes.SettingTypeAwsManaged
		if s.Name == ecstypes.SettingNameContainerInsights {
			want = ecstypes.SettingTypeUser
		}
		if s.Type != want {
			t.Errorf("%s: type %s, want %s", s.Name, s.Type, want)
		}
	}
	_, err = c.PutAccountSetting(t.Context(), &ecs.PutAccountSettingInput{Name: ecstypes.SettingNameFargateFipsMode, Value: aws.String("enabled")})
	var ipe *ecstypes.InvalidParameterException
	if !errors.As(err, &ipe) || !strings.Contains(ipe.ErrorMessage(), "Berth does not support the account setting 'fargateFIPSMode'") {
		t.Errorf("fargateFIPSMode: %v", err)
	}
}
