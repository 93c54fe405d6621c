package events

// ECR image scanning codes (Berth has no vulnerability scanner).
const (
	// CodeUnsupportedImageType is StartImageScan's answer for an image that
	// cannot be scanned.
	CodeUnsupportedImageType Code = "UnsupportedImageTypeException"
)
