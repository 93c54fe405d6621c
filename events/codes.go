package events

// Code is a stable error code. For API calls it is the AWS error type the
// gateway puts in `__type` and `X-Amzn-ErrorType`; over NATS it travels as the
// micro error code (header Nats-Service-Error-Code) with the message in
// Nats-Service-Error. Codes are never renamed; new ones may be added.
type Code string

// Protocol and authentication codes, shared by every JSON API.
const (
	CodeSerialization           Code = "SerializationException"
	CodeUnknownOperation        Code = "UnknownOperationException"
	CodeMissingAuthToken        Code = "MissingAuthenticationTokenException"
	CodeIncompleteSignature     Code = "IncompleteSignatureException"
	CodeInvalidSignature        Code = "InvalidSignatureException"
	CodeUnrecognizedClient      Code = "UnrecognizedClientException"
	CodeAccessDenied            Code = "AccessDeniedException"
	CodeThrottling              Code = "ThrottlingException"
	CodeValidation              Code = "ValidationException"
	CodeInternalFailure         Code = "InternalFailure"
	CodeServiceUnavailable      Code = "ServiceUnavailableException"
	CodeRequestEntityTooLarge   Code = "RequestEntityTooLargeException"
	CodeInvalidParameterValue   Code = "InvalidParameterValueException"
	CodeResourceNotFound        Code = "ResourceNotFoundException"
	CodeResourceAlreadyExists   Code = "ResourceAlreadyExistsException"
	CodeLimitExceeded           Code = "LimitExceededException"
	CodeInvalidParameter        Code = "InvalidParameterException"
	CodeConflict                Code = "ConflictException"
	CodeTooManyTags             Code = "TooManyTagsException"
	CodeInvalidTagParameter     Code = "InvalidTagParameterException"
	CodeOperationAborted        Code = "OperationAbortedException"
	CodeDataAlreadyAccepted     Code = "DataAlreadyAcceptedException"
	CodeInvalidSequenceToken    Code = "InvalidSequenceTokenException"
	CodeUnsupportedFeature      Code = "UnsupportedFeatureException"
	CodeUpdateInProgress        Code = "UpdateInProgressException"
	CodeResourceInUse           Code = "ResourceInUseException"
	CodeNamespaceNotFound       Code = "NamespaceNotFoundException"
	CodePlatformUnknown         Code = "PlatformUnknownException"
	CodePlatformTaskDefIncompat Code = "PlatformTaskDefinitionIncompatibilityException"
)

// ECS codes.
const (
	CodeServer                         Code = "ServerException"
	CodeClient                         Code = "ClientException"
	CodeClusterNotFound                Code = "ClusterNotFoundException"
	CodeClusterContainsInstances       Code = "ClusterContainsContainerInstancesException"
	CodeClusterContainsServices        Code = "ClusterContainsServicesException"
	CodeClusterContainsTasks           Code = "ClusterContainsTasksException"
	CodeClusterContainsCapacityProvide Code = "ClusterContainsCapacityProviderException"
	CodeServiceNotFound                Code = "ServiceNotFoundException"
	CodeServiceNotActive               Code = "ServiceNotActiveException"
	CodeTargetNotFound                 Code = "TargetNotFoundException"
	CodeAttributeLimitExceeded         Code = "AttributeLimitExceededException"
	CodeTargetNotConnected             Code = "TargetNotConnectedException"
)

// ECR codes.
const (
	CodeRepositoryNotFound          Code = "RepositoryNotFoundException"
	CodeRepositoryAlreadyExists     Code = "RepositoryAlreadyExistsException"
	CodeRepositoryNotEmpty          Code = "RepositoryNotEmptyException"
	CodeImageNotFound               Code = "ImageNotFoundException"
	CodeImageAlreadyExists          Code = "ImageAlreadyExistsException"
	CodeImageTagAlreadyExists       Code = "ImageTagAlreadyExistsException"
	CodeImageDigestDoesNotMatch     Code = "ImageDigestDoesNotMatchException"
	CodeLayersNotFound              Code = "LayersNotFoundException"
	CodeReferencedImagesNotFound    Code = "ReferencedImagesNotFoundException"
	CodeLifecyclePolicyNotFound     Code = "LifecyclePolicyNotFoundException"
	CodeRepositoryPolicyNotFound    Code = "RepositoryPolicyNotFoundException"
	CodeUploadNotFound              Code = "UploadNotFoundException"
	CodeInvalidLayer                Code = "InvalidLayerException"
	CodeInvalidLayerPart            Code = "InvalidLayerPartException"
	CodeLayerAlreadyExists          Code = "LayerAlreadyExistsException"
	CodeEmptyUpload                 Code = "EmptyUploadException"
	CodeLayerPartTooSmall           Code = "LayerPartTooSmallException"
	CodeScanNotFound                Code = "ScanNotFoundException"
	CodeLifecyclePolicyPreviewNotFo Code = "LifecyclePolicyPreviewNotFoundException"
)

// faults are the codes answered with HTTP 500: the SDKs retry them.
var faults = map[Code]bool{
	CodeServer:             true,
	CodeInternalFailure:    true,
	CodeServiceUnavailable: true,
}

// Fault reports whether c is a server fault (HTTP 5xx) rather than a client
// error.
func (c Code) Fault() bool { return faults[c] }

// HTTPStatus is the status the gateway answers c with: 500 for faults, 413
// for an oversized entity, 400 for every other AWS client error (the Smithy
// default, since the models declare no explicit status).
func (c Code) HTTPStatus() int {
	switch {
	case c.Fault():
		return 500
	case c == CodeRequestEntityTooLarge:
		return 413
	}
	return 400
}
