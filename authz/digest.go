package authz

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
	"unsafe"
)

// digestKey is one server key: it makes keyed digests of secrets
// (HMAC-SHA256) and seals the few secrets that must be shown again.
type digestKey struct {
	*sealer
	macs  sync.Pool // of *macState keyed with the secret; Reset between uses
	index uint8     // position in the key list, part of cache keys
}

// sealer encrypts secrets that keygate must be able to show again, with
// AES-256-GCM under a key derived (HKDF-SHA256) from a configured secret.
// Each ciphertext starts with the key id, so keys can rotate.
type sealer struct {
	id   string
	aead cipher.AEAD
}

func newSealer(id string, secret []byte, info string) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{id: id, aead: aead}, nil
}

func newDigestKey(id string, secret []byte, index int) (*digestKey, error) {
	sl, err := newSealer(id, secret, "keygate apikey seal v1")
	if err != nil {
		return nil, err
	}
	k := &digestKey{sealer: sl, index: uint8(index)}
	k.macs.New = func() any { return &macState{h: hmac.New(sha256.New, secret)} }
	return k, nil
}

// digest is the HMAC-SHA256 of a secret under this key. It allocates
// nothing on the steady path.
func (k *digestKey) digest(secret string) (d [sha256.Size]byte) {
	m := k.macs.Get().(*macState)
	m.h.Reset()
	// Write does not keep the slice, so the string's bytes are lent to it
	// rather than copied ([]byte(secret) would allocate per request).
	m.h.Write(unsafe.Slice(unsafe.StringData(secret), len(secret)))
	copy(d[:], m.h.Sum(m.sum[:0]))
	k.macs.Put(m)
	return d
}

// macState is a keyed HMAC with room for its sum, so that digesting
// allocates nothing.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// recordKey is the store key of the verification record of a digest.
func (k *digestKey) recordKey(d [sha256.Size]byte) string {
	return "dig/" + k.id + "/" + hex.EncodeToString(d[:])
}

// seal encrypts a secret that keygate must be able to show again (the
// ApiKey key), bound to the credential id.
func (k *sealer) seal(plaintext, credentialID string) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	_, _ = rand.Read(nonce)
	out := append([]byte{byte(len(k.id))}, k.id...)
	return append(out, k.aead.Seal(nonce, nonce, []byte(plaintext), []byte(credentialID))...)
}

// keyring is the configured digest keys; the first one is current.
type keyring []*digestKey

var errUnseal = errors.New("authz: sealed secret cannot be opened")

func (r keyring) open(sealed []byte, credentialID string) (string, error) {
	sealers := make(sealers, len(r))
	for i, k := range r {
		sealers[i] = k.sealer
	}
	return sealers.open(sealed, credentialID)
}

// sealers are the configured keys of one purpose; the first seals.
type sealers []*sealer

// open decrypts what seal made, with whichever key sealed it.
func (r sealers) open(sealed []byte, credentialID string) (string, error) {
	if len(sealed) < 1 || len(sealed) < 1+int(sealed[0]) {
		return "", errUnseal
	}
	id, rest := string(sealed[1:1+sealed[0]]), sealed[1+sealed[0]:]
	for _, k := range r {
		if k.id != id {
			continue
		}
		ns := k.aead.NonceSize()
		if len(rest) < ns {
			return "", errUnseal
		}
		pt, err := k.aead.Open(nil, rest[:ns], rest[ns:], []byte(credentialID))
		if err != nil {
			return "", errUnseal
		}
		return string(pt), nil
	}
	return "", fmt.Errorf("%w: digest key %q is no longer configured", errUnseal, id)
}
