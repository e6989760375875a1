package txn

import "errors"

func (a *analysis) rwRegister() error {
	return errors.New("rw-register analysis is not implemented")
}
