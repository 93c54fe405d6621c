package control

import (
	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
)

// Conversions between the AWS wire types (ecsapi) and the stored record
// (events.ClusterRecord). Lists come out non-nil, so they marshal as [].

func recordConfiguration(c *ecsapi.ClusterConfiguration) *events.ClusterConfiguration {
	if c == nil {
		return nil
	}
	out := &events.ClusterConfiguration{}
	if e := c.ExecuteCommandConfiguration; e != nil {
		out.ExecuteCommand = &events.ClusterExecuteCommand{KMSKeyID: e.KmsKeyId, Logging: e.Logging}
		if l := e.LogConfiguration; l != nil {
			out.ExecuteCommand.Log = &events.ClusterExecuteCommandLog{
				CloudWatchEncryptionEnabled: l.CloudWatchEncryptionEnabled,
				CloudWatchLogGroupName:      l.CloudWatchLogGroupName,
				S3BucketName:                l.S3BucketName,
				S3EncryptionEnabled:         l.S3EncryptionEnabled,
				S3KeyPrefix:                 l.S3KeyPrefix,
			}
		}
	}
	if m := c.ManagedStorageConfiguration; m != nil {
		out.ManagedStorage = &events.ClusterManagedStorage{
			FargateEphemeralStorageKMSKeyID: m.FargateEphemeralStorageKmsKeyId,
			KMSKeyID:                        m.KmsKeyId,
		}
	}
	return out
}

func apiConfiguration(c *events.ClusterConfiguration) *ecsapi.ClusterConfiguration {
	if c == nil {
		return nil
	}
	out := &ecsapi.ClusterConfiguration{}
	if e := c.ExecuteCommand; e != nil {
		out.ExecuteCommandConfiguration = &ecsapi.ExecuteCommandConfiguration{KmsKeyId: e.KMSKeyID, Logging: e.Logging}
		if l := e.Log; l != nil {
			out.ExecuteCommandConfiguration.LogConfiguration = &ecsapi.ExecuteCommandLogConfiguration{
				CloudWatchEncryptionEnabled: l.CloudWatchEncryptionEnabled,
				CloudWatchLogGroupName:      l.CloudWatchLogGroupName,
				S3BucketName:                l.S3BucketName,
				S3EncryptionEnabled:         l.S3EncryptionEnabled,
				S3KeyPrefix:                 l.S3KeyPrefix,
			}
		}
	}
	if m := c.ManagedStorage; m != nil {
		out.ManagedStorageConfiguration = &ecsapi.ManagedStorageConfiguration{
			FargateEphemeralStorageKmsKeyId: m.FargateEphemeralStorageKMSKeyID,
			KmsKeyId:                        m.KMSKeyID,
		}
	}
	return out
}

func recordStrategy(items []ecsapi.CapacityProviderStrategyItem) []events.ClusterCapacityProviderItem {
	out := []events.ClusterCapacityProviderItem{}
	for _, it := range items {
		r := events.ClusterCapacityProviderItem{CapacityProvider: it.CapacityProvider}
		if it.Weight != nil {
			r.Weight = *it.Weight
		}
		if it.Base != nil {
			r.Base = *it.Base
		}
		out = append(out, r)
	}
	return out
}

func apiStrategy(items []events.ClusterCapacityProviderItem) []ecsapi.CapacityProviderStrategyItem {
	out := []ecsapi.CapacityProviderStrategyItem{}
	for _, it := range items {
		out = append(out, ecsapi.CapacityProviderStrategyItem{
			CapacityProvider: it.CapacityProvider,
			Weight:           awsjson.Int32(it.Weight),
			Base:             awsjson.Int32(it.Base),
		})
	}
	return out
}

func recordTags(tags []ecsapi.Tag) []events.ClusterTag {
	out := []events.ClusterTag{}
	for _, t := range tags {
		out = append(out, events.ClusterTag{Key: t.Key, Value: t.Value})
	}
	return out
}

func apiTags(tags []events.ClusterTag) []ecsapi.Tag {
	out := []ecsapi.Tag{}
	for _, t := range tags {
		out = append(out, ecsapi.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}
