// Package agentproto is the agent side of the agent protocol described in
// events/agent.go: register the host as a container instance, publish
// heartbeats, follow the instance's task assignments (its desired state), and
// publish task state reports. The real Docker agent and the simulated agent
// both speak the protocol through this package, so the scheduler sees one
// behaviour.
package agentproto
