package secret

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestKeyAndBox(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateKey(dir, "k", 32)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(dir, "k", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("key changed between loads")
	}
	st, err := os.Stat(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %o, want 600", got)
	}
	box, err := NewBox(k1)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte("token-abc"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("token-abc")) {
		t.Error("sealed value holds the plain text")
	}
	plain, err := box.Open(sealed)
	if err != nil || string(plain) != "token-abc" {
		t.Errorf("Open = %q, %v", plain, err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open(sealed); err == nil {
		t.Error("tampered value opened")
	}
}
