// Package ecsapi holds the AWS wire types of ecs-2014-11-13, generated from the botocore model:
// request and response shapes with the model's exact member names, the
// operation table and the modelled errors. Services decode requests into
// these types and encode responses from them; nothing else depends on their
// JSON form.
package ecsapi

//go:generate go run ../internal/awsgen -model ../internal/awsgen/models/ecs-2014-11-13.json.gz -pkg ecsapi -out .
