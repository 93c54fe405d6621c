package events

import "time"

// Cluster statuses Berth uses (AWS also has PROVISIONING, DEPROVISIONING and
// FAILED, for capacity-provider attachments Berth does not make).
const (
	ClusterStatusActive   = "ACTIVE"
	ClusterStatusInactive = "INACTIVE"
)

// Cluster setting names and containerInsights values.
const (
	ClusterSettingContainerInsights = "containerInsights"

	ContainerInsightsEnabled  = "enabled"
	ContainerInsightsDisabled = "disabled"
	ContainerInsightsEnhanced = "enhanced"
)

// ClusterKey is the key of cluster name in BucketClusters. Cluster names are
// letters, digits, '-' and '_', so the key is the name itself.
func ClusterKey(name string) string { return Token(name) }

// ClusterRecord is the value stored in BucketClusters under ClusterKey(name).
// Only the scheduler writes it (with the read revision); anyone may read or
// watch the bucket, e.g. to learn that a cluster became INACTIVE.
//
// A DeleteCluster keeps the record with Status INACTIVE, so the cluster stays
// describable; a later CreateCluster of the same name replaces it with a
// fresh ACTIVE record (new CreatedAt, no old settings or tags).
type ClusterRecord struct {
	Name   string `json:"name"`
	ARN    string `json:"arn"`
	Status string `json:"status"` // ClusterStatusActive | ClusterStatusInactive

	Settings                        []ClusterSetting              `json:"settings"`
	Configuration                   *ClusterConfiguration         `json:"configuration,omitempty"`
	CapacityProviders               []string                      `json:"capacityProviders"`
	DefaultCapacityProviderStrategy []ClusterCapacityProviderItem `json:"defaultCapacityProviderStrategy"`
	// ServiceConnectNamespace is the default Service Connect namespace as the
	// caller gave it ("" = none).
	ServiceConnectNamespace string       `json:"serviceConnectNamespace,omitempty"`
	Tags                    []ClusterTag `json:"tags"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// DeletedAt is set when Status became INACTIVE.
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
}

// Active reports whether the cluster is ACTIVE.
func (c *ClusterRecord) Active() bool { return c.Status == ClusterStatusActive }

// Setting returns the value of setting name ("" when unset).
func (c *ClusterRecord) Setting(name string) string {
	for _, s := range c.Settings {
		if s.Name == name {
			return s.Value
		}
	}
	return ""
}

// ClusterSetting is one cluster setting (only containerInsights exists).
type ClusterSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ClusterTag is one tag of a cluster.
type ClusterTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ClusterCapacityProviderItem is one entry of a cluster's default capacity
// provider strategy.
type ClusterCapacityProviderItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int32  `json:"weight"`
	Base             int32  `json:"base"`
}

// ClusterConfiguration is a cluster's execute-command and managed-storage
// configuration, stored as given (Berth does not act on it yet).
type ClusterConfiguration struct {
	ExecuteCommand *ClusterExecuteCommand `json:"executeCommandConfiguration,omitempty"`
	ManagedStorage *ClusterManagedStorage `json:"managedStorageConfiguration,omitempty"`
}

// ClusterExecuteCommand is the executeCommandConfiguration of a cluster.
type ClusterExecuteCommand struct {
	KMSKeyID string                    `json:"kmsKeyId,omitempty"`
	Logging  string                    `json:"logging,omitempty"` // NONE | DEFAULT | OVERRIDE
	Log      *ClusterExecuteCommandLog `json:"logConfiguration,omitempty"`
}

// ClusterExecuteCommandLog is where execute-command sessions are logged.
type ClusterExecuteCommandLog struct {
	CloudWatchEncryptionEnabled *bool  `json:"cloudWatchEncryptionEnabled,omitempty"`
	CloudWatchLogGroupName      string `json:"cloudWatchLogGroupName,omitempty"`
	S3BucketName                string `json:"s3BucketName,omitempty"`
	S3EncryptionEnabled         *bool  `json:"s3EncryptionEnabled,omitempty"`
	S3KeyPrefix                 string `json:"s3KeyPrefix,omitempty"`
}

// ClusterManagedStorage is the managedStorageConfiguration of a cluster.
type ClusterManagedStorage struct {
	FargateEphemeralStorageKMSKeyID string `json:"fargateEphemeralStorageKmsKeyId,omitempty"`
	KMSKeyID                        string `json:"kmsKeyId,omitempty"`
}
