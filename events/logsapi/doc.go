// Package logsapi holds the AWS wire types of logs-2014-03-28, generated from the botocore model:
// request and response shapes with the model's exact member names, the
// operation table and the modelled errors. Services decode requests into
// these types and encode responses from them; nothing else depends on their
// JSON form.
package logsapi

//go:generate go run ../internal/awsgen -model ../internal/awsgen/models/logs-2014-03-28.json.gz -pkg logsapi -out .
