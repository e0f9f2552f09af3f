package web

import (
	"os"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/rewindhq/rewind/internal/auth"
)

func TestMain(m *testing.M) {
	auth.Cost = bcrypt.MinCost // the tests hash many passwords; strength is not under test here
	os.Exit(m.Run())
}
