package control

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
)

// Account settings. Berth has no IAM users: every caller is the account's
// root user, whose settings are the account defaults (ECS:
// PutAccountSettingDefault sets the root user's setting, and a principal
// without its own setting gets the root user's). Other principals' settings
// (PutAccountSetting --principal-arn) are kept and listed, and take effect
// for nobody, since no call is made as them.
//
// Supported names: containerInsights (enabled, disabled, enhanced; a new
// cluster without a containerInsights setting gets the effective value)
// and the three long ARN formats (always enabled in Berth). The other
// names of the model are refused with an InvalidParameterException saying
// Berth does not support them.

// accountSetting describes one supported setting name.
type accountSetting struct {
	values  []string
	builtin string // the value when nobody set it
}

var accountSettings = map[string]accountSetting{
	events.ClusterSettingContainerInsights: {values: []string{events.ContainerInsightsEnabled, events.ContainerInsightsDisabled, events.ContainerInsightsEnhanced}, builtin: events.ContainerInsightsDisabled},
	"serviceLongArnFormat":                 {values: []string{"enabled"}, builtin: "enabled"},
	"taskLongArnFormat":                    {values: []string{"enabled"}, builtin: "enabled"},
	"containerInstanceLongArnFormat":       {values: []string{"enabled"}, builtin: "enabled"},
}

const (
	msgAccountSettingName        = "Invalid setting name: %s"                                                         // (unverified)
	msgAccountSettingUnsupported = "Berth does not support the account setting '%s'. Supported: %s."                  // (Berth)
	msgAccountSettingValue       = "Invalid value '%s' for setting '%s'. Valid values: %s."                           // (unverified)
	msgLongARNOptOut             = "Berth always uses the long ARN format: '%s' cannot be disabled."                  // (Berth)
	msgPrincipalARN              = "Invalid principalArn: %s. Specify an IAM user, role or root ARN of this account." // (unverified)
	msgSettingValueNoName        = "A setting name must be specified when filtering by value."                        // (unverified)
	msgAccountMaxResults         = "maxResults must be between 1 and 10."                                             // (unverified)
	listAccountSettingsToken     = "ListAccountSettings"
)

func supportedSettingNames() string {
	names := make([]string, 0, len(accountSettings))
	for n := range accountSettings {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// checkSettingName validates a setting name against the model's enum and
// Berth's support.
func checkSettingName(name string) (accountSetting, error) {
	if def, ok := accountSettings[name]; ok {
		return def, nil
	}
	if slices.Contains(ecsapi.EnumValues["SettingName"], name) {
		return accountSetting{}, invalid(msgAccountSettingUnsupported, name, supportedSettingNames())
	}
	return accountSetting{}, invalid(msgAccountSettingName, name)
}

func checkSettingValue(name, value string, def accountSetting) error {
	if slices.Contains(def.values, value) {
		return nil
	}
	if strings.HasSuffix(name, "LongArnFormat") && value == "disabled" {
		return invalid(msgLongARNOptOut, name)
	}
	return invalid(msgAccountSettingValue, value, name, strings.Join(def.values, ", "))
}

var principalARNRE = regexp.MustCompile(`^arn:aws:iam::(\d{12}):(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)$`)

// principal resolves an optional principalArn (default: the caller, the
// root user).
func (s *Service) principal(arn string) (string, error) {
	if arn == "" {
		return events.RootPrincipalARN(s.cfg.Account), nil
	}
	m := principalARNRE.FindStringSubmatch(arn)
	if m == nil || m[1] != s.cfg.Account {
		return "", invalid(msgPrincipalARN, arn)
	}
	return arn, nil
}

func (s *Service) putAccountSetting(ctx context.Context, in *ecsapi.PutAccountSettingRequest) (any, error) {
	set, err := s.writeAccountSetting(ctx, in.Name, in.Value, in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutAccountSettingResponse{Setting: set}, nil
}

func (s *Service) putAccountSettingDefault(ctx context.Context, in *ecsapi.PutAccountSettingDefaultRequest) (any, error) {
	set, err := s.writeAccountSetting(ctx, in.Name, in.Value, "")
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutAccountSettingDefaultResponse{Setting: set}, nil
}

func (s *Service) writeAccountSetting(ctx context.Context, name, value, principalArn string) (*ecsapi.Setting, error) {
	def, err := checkSettingName(name)
	if err != nil {
		return nil, err
	}
	if err := checkSettingValue(name, value, def); err != nil {
		return nil, err
	}
	p, err := s.principal(principalArn)
	if err != nil {
		return nil, err
	}
	rec := &events.AccountSettingRecord{Name: name, Value: value, PrincipalArn: p}
	if _, _, err := modifyJSON(ctx, s.state.kv, events.AccountSettingKey(p, name), func(*events.AccountSettingRecord) (*events.AccountSettingRecord, error) {
		return rec, nil
	}); err != nil {
		return nil, err
	}
	return &ecsapi.Setting{Name: name, Value: value, PrincipalArn: p, Type: events.AccountSettingTypeUser}, nil
}

func (s *Service) deleteAccountSetting(ctx context.Context, in *ecsapi.DeleteAccountSettingRequest) (any, error) {
	if _, err := checkSettingName(in.Name); err != nil {
		return nil, err
	}
	p, err := s.principal(in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	key := events.AccountSettingKey(p, in.Name)
	cur, rev, err := getJSON[events.AccountSettingRecord](ctx, s.state.kv, key)
	if err != nil {
		return nil, err
	}
	if cur == nil { // nothing set: the setting as it is in effect (unverified)
		set, err := s.effectiveSetting(ctx, p, in.Name)
		return &ecsapi.DeleteAccountSettingResponse{Setting: set}, err
	}
	if err := s.state.del(ctx, key, rev); err != nil {
		return nil, err
	}
	return &ecsapi.DeleteAccountSettingResponse{Setting: &ecsapi.Setting{
		Name: cur.Name, Value: cur.Value, PrincipalArn: p, Type: events.AccountSettingTypeUser,
	}}, nil
}

// effectiveSetting is the value of name for principal p: its own setting,
// else the root user's (the account default), else Berth's built-in value.
func (s *Service) effectiveSetting(ctx context.Context, p, name string) (*ecsapi.Setting, error) {
	root := events.RootPrincipalARN(s.cfg.Account)
	for _, who := range []string{p, root} {
		rec, _, err := getJSON[events.AccountSettingRecord](ctx, s.state.kv, events.AccountSettingKey(who, name))
		if err != nil {
			return nil, err
		}
		if rec != nil {
			return &ecsapi.Setting{Name: name, Value: rec.Value, PrincipalArn: p, Type: events.AccountSettingTypeUser}, nil
		}
		if who == root {
			break
		}
	}
	return &ecsapi.Setting{Name: name, Value: accountSettings[name].builtin, PrincipalArn: p, Type: events.AccountSettingTypeAWSManaged}, nil
}

// accountInsights is the containerInsights value a new cluster gets when
// CreateCluster names none: the caller's (the root user's) effective
// account setting.
func (s *Service) accountInsights(ctx context.Context) (string, error) {
	set, err := s.effectiveSetting(ctx, events.RootPrincipalARN(s.cfg.Account), events.ClusterSettingContainerInsights)
	if err != nil {
		return "", err
	}
	return set.Value, nil
}

func (s *Service) listAccountSettings(ctx context.Context, in *ecsapi.ListAccountSettingsRequest) (any, error) {
	size := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return nil, invalid(msgAccountMaxResults)
		}
		size = int(*in.MaxResults)
	}
	names := []string{}
	switch {
	case in.Name != "":
		if _, err := checkSettingName(in.Name); err != nil {
			return nil, err
		}
		names = append(names, in.Name)
	case in.Value != "":
		return nil, invalid(msgSettingValueNoName)
	default:
		for n := range accountSettings {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	p, err := s.principal(in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(listAccountSettingsToken, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListAccountSettingsResponse{Settings: []ecsapi.Setting{}}
	for _, n := range names {
		if n <= after {
			continue
		}
		set, err := s.accountSettingFor(ctx, p, n, in.EffectiveSettings != nil && *in.EffectiveSettings)
		if err != nil {
			return nil, err
		}
		if set == nil || (in.Value != "" && set.Value != in.Value) {
			continue
		}
		if len(out.Settings) == size {
			out.NextToken = encodePageToken(listAccountSettingsToken, out.Settings[size-1].Name)
			break
		}
		out.Settings = append(out.Settings, *set)
	}
	return out, nil
}

// accountSettingFor is principal p's own setting of name (nil when it set
// none), or with effective its effective setting.
func (s *Service) accountSettingFor(ctx context.Context, p, name string, effective bool) (*ecsapi.Setting, error) {
	if effective {
		return s.effectiveSetting(ctx, p, name)
	}
	rec, _, err := getJSON[events.AccountSettingRecord](ctx, s.state.kv, events.AccountSettingKey(p, name))
	if err != nil || rec == nil {
		return nil, err
	}
	return &ecsapi.Setting{Name: name, Value: rec.Value, PrincipalArn: p, Type: events.AccountSettingTypeUser}, nil
}
