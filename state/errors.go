package state

import (
	"errors"
	"fmt"
)

// Kinds of error, which the API maps to HTTP statuses. Errors from this
// package, the daemon and its parts match one of them under errors.Is when
// the request was at fault; anything else is the machine's fault.
var (
	ErrInvalid  = errors.New("invalid")   // bad input: 400
	ErrNotFound = errors.New("not found") // no such thing: 404
	ErrConflict = errors.New("conflict")  // conflicts with existing state: 409
)

// Errorf returns an error with the formatted message that also matches kind
// under errors.Is, without the kind's word in the message. %w in format
// wraps a cause as fmt.Errorf does.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
