package events

import (
	"crypto/sha256"
	"encoding/hex"
)

// TaskNetworkReport is an awsvpc task's own network as its agent reports
// it (TaskStateReport.Network): the equivalent of the task's elastic network
// interface. The control plane turns it into the task's
// ElasticNetworkInterface attachment (adding the subnetId of the RunTask
// networkConfiguration) and the containers' networkInterfaces.
type TaskNetworkReport struct {
	// NetworkInterfaceID is ENIID(taskArn).
	NetworkInterfaceID string `json:"networkInterfaceId"`
	PrivateIPv4Address string `json:"privateIPv4Address"`
	// SubnetIPv4CidrBlock is the agent's awsvpc subnet ("10.200.0.0/16").
	SubnetIPv4CidrBlock string `json:"subnetIPv4CidrBlock,omitempty"`
	GatewayIPv4Address  string `json:"gatewayIPv4Address,omitempty"`
	MacAddress          string `json:"macAddress,omitempty"`
	// Attached is false once the task's network namespace is gone (the
	// task stopped); the address is then free again.
	Attached bool `json:"attached"`
}

// ENIID is the networkInterfaceId Berth gives an awsvpc task: "eni-" and
// 17 hex digits derived from the task ARN, shaped like AWS's.
func ENIID(taskArn string) string {
	sum := sha256.Sum256([]byte(taskArn))
	return "eni-" + hex.EncodeToString(sum[:])[:17]
}
