package certfile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/testkit"
	"github.com/keygate/keygate/internal/testpki"
)

// waitServed waits until k serves want's certificate, failing after a
// generous deadline (the check interval in these tests is 5ms).
func waitServed(t *testing.T, k *KeyPair, want testpki.Leaf) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("serving serial %v", want.Cert.SerialNumber), func() bool {
		return k.Certificate().Leaf.SerialNumber.Cmp(want.Cert.SerialNumber) == 0
	})
}

func TestReloadWhenFilesChange(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	a, b := ca.Server("a.example"), ca.Server("b.example")
	certFile, keyFile := a.Write(t, dir, "tls")

	k, err := Load(certFile, keyFile, 5*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Certificate().Leaf.DNSNames[0]; got != "a.example" {
		t.Fatalf("serving %s, want a.example", got)
	}

	b.Write(t, dir, "tls")
	waitServed(t, k, b)

	// A pair whose key does not match is refused; the last good one stays.
	c := ca.Server("c.example")
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // several check intervals
	for range 3 {
		if got := k.Certificate().Leaf.DNSNames[0]; got != "b.example" {
			t.Fatalf("after a mismatched key: serving %s, want b.example still", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Completing the pair is picked up.
	if err := os.WriteFile(certFile, c.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitServed(t, k, c)
}

// TestReloadOnSymlinkSwap swaps the files the way the kubelet updates a
// mounted Secret: tls.crt -> ..data/tls.crt, ..data -> a new directory.
func TestReloadOnSymlinkSwap(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	a, b := ca.Server("a.example"), ca.Server("b.example")
	v1, v2 := filepath.Join(dir, "..v1"), filepath.Join(dir, "..v2")
	for _, d := range []string{v1, v2} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	a.Write(t, v1, "tls")
	b.Write(t, v2, "tls")
	data := filepath.Join(dir, "..data")
	must(t, os.Symlink("..v1", data))
	must(t, os.Symlink("..data/tls.crt", filepath.Join(dir, "tls.crt")))
	must(t, os.Symlink("..data/tls.key", filepath.Join(dir, "tls.key")))

	k, err := Load(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), 5*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitServed(t, k, a)
	tmp := filepath.Join(dir, "..data_tmp")
	must(t, os.Symlink("..v2", tmp))
	must(t, os.Rename(tmp, data))
	waitServed(t, k, b)
}

func TestLoadErrors(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	certFile, _ := ca.Server("a.example").Write(t, dir, "a")
	_, otherKey := ca.Server("b.example").Write(t, dir, "b")
	if _, err := Load(certFile, filepath.Join(dir, "missing.key"), 0, nil); err == nil {
		t.Error("Load with a missing key file succeeded")
	}
	if _, err := Load(certFile, otherKey, 0, nil); err == nil {
		t.Error("Load with a key of another certificate succeeded")
	}
	if _, err := CertPool(otherKey); err == nil {
		t.Error("CertPool of a key file succeeded")
	}
	if p, err := CertPool(ca.WriteCA(dir, "ca.pem")); err != nil || p == nil {
		t.Errorf("CertPool(ca.pem) = %v, %v", p, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReloadSameSizeAndTime: a rewrite that keeps both files' sizes and
// modification times (as two writes within one file-system timestamp tick
// can) is still seen, because the content is compared.
func TestReloadSameSizeAndTime(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	a := ca.Server("a.example")
	b := ca.Server("a.example")
	for i := 0; len(b.CertPEM) != len(a.CertPEM) || len(b.KeyPEM) != len(a.KeyPEM); i++ {
		if i == 100 {
			t.Skip("no certificate of the same size in 100 tries")
		}
		b = ca.Server("a.example")
	}
	certFile, keyFile := a.Write(t, dir, "tls")
	k, err := Load(certFile, keyFile, 5*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	mtimes := map[string]time.Time{}
	for _, f := range []string{certFile, keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		mtimes[f] = st.ModTime()
	}
	b.Write(t, dir, "tls")
	for f, mt := range mtimes {
		must(t, os.Chtimes(f, mt, mt))
	}
	waitServed(t, k, b)
}
