package events

// Account settings (PutAccountSetting, PutAccountSettingDefault,
// ListAccountSettings, DeleteAccountSetting) are the scheduler's: one
// AccountSettingRecord per principal and setting name in BucketECSState
// under AccountSettingKey. The account's root user's setting is the
// account default (PutAccountSettingDefault writes it), as in ECS.
const (
	// AccountSettingTypeUser is a setting a user set.
	AccountSettingTypeUser = "user"
	// AccountSettingTypeAWSManaged is a setting nobody set (its default).
	AccountSettingTypeAWSManaged = "aws_managed"
)

// AccountSettingKey is the BucketECSState key of a principal's setting:
// set.<Token(principal ARN)>.<name>.
func AccountSettingKey(principalARN, name string) string {
	return "set." + Token(principalARN) + "." + Token(name)
}

// AccountSettingRecord is the value under AccountSettingKey.
type AccountSettingRecord struct {
	Name         string `json:"name"`
	Value        string `json:"value"`
	PrincipalArn string `json:"principalArn"`
}

// RootPrincipalARN is the account's root user, whose settings are the
// account defaults.
func RootPrincipalARN(account string) string { return "arn:aws:iam::" + account + ":root" }
