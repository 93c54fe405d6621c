// Package ecrapi holds the AWS wire types of ecr-2015-09-21, generated from the botocore model:
// request and response shapes with the model's exact member names, the
// operation table and the modelled errors. Services decode requests into
// these types and encode responses from them; nothing else depends on their
// JSON form.
package ecrapi

//go:generate go run ../internal/awsgen -model ../internal/awsgen/models/ecr-2015-09-21.json.gz -pkg ecrapi -out .
