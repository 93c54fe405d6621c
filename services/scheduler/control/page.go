package control

import (
	"encoding/base64"

	"github.com/berth-project/berth/internal/jsonx"
)

// Page tokens are opaque to callers: base64url of a small JSON document that
// names the list they belong to and the last key returned. A token from
// another list, or anything that does not decode, is an
// InvalidParameterException.
type pageToken struct {
	List  string `json:"l"`
	After string `json:"a"`
}

// encodePageToken returns the token that continues list after key.
func encodePageToken(list, after string) string {
	b, _ := jsonx.Marshal(pageToken{List: list, After: after})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken returns the key a token of list continues after ("" for
// an empty token).
func decodePageToken(list, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", invalid(msgNextToken)
	}
	var t pageToken
	if err := jsonx.Unmarshal(b, &t); err != nil || t.List != list || t.After == "" {
		return "", invalid(msgNextToken)
	}
	return t.After, nil
}

// pageSize checks maxResults (1..100) and returns it, 100 when absent.
func pageSize(maxResults *int32) (int, error) {
	if maxResults == nil {
		return 100, nil
	}
	if *maxResults < 1 || *maxResults > 100 {
		return 0, invalid(msgMaxResults)
	}
	return int(*maxResults), nil
}
