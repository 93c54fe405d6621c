// Package tlstest generates a throwaway certificate authority for tests and
// issues server and client certificates from it, written as PEM files in
// the test's temporary folder.
package tlstest
