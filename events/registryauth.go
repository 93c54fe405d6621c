package events

import "time"

// SubjRegistryPullToken is the internal request agents send for a
// pull-only registry password: berth.internal.registry.PullToken, body
// RegistryPullTokenRequest, reply RegistryPullTokenReply. Only agents
// (and operators) may send it; the registry answers it.
var SubjRegistryPullToken = SubjInternal(ServiceRegistry, "PullToken")

// RegistryPullTokenRequest asks for a pull token.
type RegistryPullTokenRequest struct {
	// Requester names the asker (an agent's container instance or owner
	// label) for the registry's log; it grants nothing.
	Requester string `json:"requester,omitempty"`
}

// RegistryPullTokenReply carries a pull token in the shape of ECR's
// AuthorizationData: AuthorizationToken is base64("AWS:" + password), for
// HTTP Basic against ProxyEndpoint until ExpiresAt. The password allows
// reads (pulls) only; pushes and deletes get 403 DENIED.
type RegistryPullTokenReply struct {
	AuthorizationToken string    `json:"authorizationToken"`
	ExpiresAt          time.Time `json:"expiresAt"`
	ProxyEndpoint      string    `json:"proxyEndpoint"`
}
