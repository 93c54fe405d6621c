// Package gateway is Berth's AWS front door: one HTTP listener for every AWS
// JSON 1.1 API (ECS, ECR, CloudWatch Logs). It routes each POST by its
// X-Amz-Target header to the NATS subject events.SubjAPI(api, operation),
// verifies the SigV4 signature against the access keys in JetStream, and
// turns replies into AWS responses: 200 with the JSON body, or the AWS error
// shape ({"__type", "message"} plus X-Amzn-ErrorType, 400 for client errors
// and 500 for faults). It holds no state; run as many replicas as you like.
//
// Flow:
//
//	HTTP POST / --X-Amz-Target--> route (events.Routes) --SigV4--> NATS request
//	  berth.api.<api>.<Operation> --reply--> 200 JSON | AWS error
//
// GET /healthz answers 200 once every service the routes name answers its
// micro PING.
package gateway
