// Command supervisor runs the ECS service supervisor standalone (the
// all-in-one services/berth runs it in-process): the service operations and
// the reconcilers of package supervisor, as many replicas as wanted.
package main
