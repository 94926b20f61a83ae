package inventory

import (
	"errors"
	"fmt"
)

// ErrIdentityTaken is wrapped (by *IdentityError) when an active client
// certificate already holds the requested CN or a look-alike of it: a
// client CN is a chat identity, with one holder at a time.
var ErrIdentityTaken = errors.New("client identity is held by an active certificate")

// IdentityError names the certificate that holds an identity.
type IdentityError struct {
	CN           string // the name asked for
	HolderCN     string // the holder's CN: CN itself or a look-alike
	HolderSerial string
}

func (e *IdentityError) Error() string {
	if e.HolderCN == e.CN {
		return fmt.Sprintf("client %q already has active certificate %s", e.CN, e.HolderSerial)
	}
	return fmt.Sprintf("client %q looks like %q, which has active certificate %s", e.CN, e.HolderCN, e.HolderSerial)
}

// Unwrap makes errors.Is(err, ErrIdentityTaken) true.
func (e *IdentityError) Unwrap() error { return ErrIdentityTaken }
