// Package control is the scheduler's NATS service: the ECS control-plane
// operations the scheduler owns, answered as micro endpoints on
// berth.api.ecs.<Operation> (queue group "berth", so any number of replicas
// share the requests).
//
// Today it serves clusters and resource tagging:
//
//	CreateCluster DescribeClusters ListClusters DeleteCluster
//	UpdateCluster UpdateClusterSettings
//	TagResource UntagResource ListTagsForResource
//
// Container instances and tasks will join this package (their own files,
// their own buckets) and plug into the seams left here: the InstanceCounter,
// TaskCounter and ServiceCounter interfaces feed the cluster counters and the
// DeleteCluster preconditions, and the taggers map takes a tagger per
// resource type.
//
// # State
//
// Clusters live in the KV bucket events.BucketClusters (one writer: this
// service), one events.ClusterRecord per events.ClusterKey(name). Every write
// is a compare-and-set on the revision just read (Create for a new key,
// Update otherwise) and is retried on conflict, so replicas never need a
// lock: of 20 concurrent CreateCluster calls for one name exactly one write
// lands and the others return the cluster it created. DeleteCluster keeps the
// record with status INACTIVE (still describable, no longer listed).
//
// ECS emits no public event for cluster changes, so none is published here;
// other services that care watch the bucket ($KV.ecs_clusters.>).
//
// DeleteCluster checks the counters, then commits INACTIVE. Work that adds
// things to a cluster (RegisterContainerInstance, RunTask, CreateService)
// must in turn read the cluster and refuse an INACTIVE one, so that a
// registration racing a delete is refused on one side or the other.
//
// # Lifecycle
//
// New checks the configuration; Run ensures the bucket, registers the micro
// service "scheduler" and its endpoints, closes Ready once the server has
// the subscriptions, serves until its context ends, then stops the micro
// service and waits for the requests in flight.
//
// # Tagging
//
// TagResource, UntagResource and ListTagsForResource arrive here for every
// ECS resource type. Cluster tags live in the cluster record. Resources other
// services own are forwarded unchanged (same AWS JSON body and headers) to
// berth.internal.<owner>.<Operation> and the owner's reply or error is
// relayed as is: today task definitions go to the taskdefs service
// (tagOwners). Types nobody serves yet answer as AWS does for a resource that
// does not exist.
//
// # Errors
//
// Caller mistakes are *apierr.Error values built in errors.go, the one place
// that holds the AWS codes and messages of this package; anything else is a
// ServerException.
package control
