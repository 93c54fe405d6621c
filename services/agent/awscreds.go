package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// accessKeyFromFile returns the first aws_access_key_id in an AWS
// credentials file, such as the one `gateway --bootstrap` writes: in a
// compose deployment the agent learns the root access key id from the
// shared credentials volume instead of a value baked into its config.
func accessKeyFromFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(k) == "aws_access_key_id" && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no aws_access_key_id", path)
}
