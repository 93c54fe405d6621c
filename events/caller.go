package events

// HeaderCaller is the gateway's caller assertion on an API request: proof,
// made with the signing key's secret, that the gateway checked the SigV4
// signature of the access key named in HeaderAccessKey, for this subject
// and this body, at this time. A service that hands out credentials (the
// registry's GetAuthorizationToken) trusts HeaderAccessKey only with a valid
// assertion (see internal/callerauth). Form: v1.<unix seconds>.<base64url MAC>.
const HeaderCaller = "Berth-Caller"
