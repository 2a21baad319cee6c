package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keygate/keygate/store"
)

// repo is a typed view of one kind of record in the store: how a T is
// keyed, encoded, indexed and given a TTL is said once here, and the
// compare-and-set loop of every change is written once, in update.
//
// A T of type string is stored as its bytes (the pointer records: a
// handle's or ApiKey's credential id, a password hash); any other T as
// JSON.
type repo[T any] struct {
	st store.Store
	// key is the store key of the record with id; nil: id is the key.
	key func(id string) string
	// opts are the indexes and TTL of v about to be written; prev is the
	// record it replaces (zero when v is created). nil: none.
	opts func(v *T, prev store.Record) store.WriteOptions
	// missing is the error for an absent record (store.ErrNotFound, and
	// store.ErrInvalidKey too when badKeyMissing); nil: the store's error.
	missing       func(id string) error
	badKeyMissing bool
}

// errUnchanged, returned by an update's change, leaves the record as it
// is: update returns it, unwritten, and no error.
var errUnchanged = errors.New("unchanged")

func (r *repo[T]) storeKey(id string) string {
	if r.key == nil {
		return id
	}
	return r.key(id)
}

func (r *repo[T]) writeOpts(v *T, prev store.Record) store.WriteOptions {
	if r.opts == nil {
		return store.WriteOptions{}
	}
	return r.opts(v, prev)
}

// encode is v as stored at id: a string's bytes, else JSON.
func (r *repo[T]) encode(id string, v *T) ([]byte, error) {
	if s, ok := any(v).(*string); ok {
		return []byte(*s), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", r.storeKey(id), err)
	}
	return b, nil
}

func decode[T any](rec store.Record) (*T, error) {
	var v T
	if s, ok := any(&v).(*string); ok {
		*s = string(rec.Value)
		return &v, nil
	}
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", rec.Key, err)
	}
	return &v, nil
}

// read returns the stored record at id with its value decoded.
func (r *repo[T]) read(ctx context.Context, id string) (*T, store.Record, error) {
	rec, err := r.st.Get(ctx, r.storeKey(id))
	if err != nil {
		if r.missing != nil && (errors.Is(err, store.ErrNotFound) || r.badKeyMissing && errors.Is(err, store.ErrInvalidKey)) {
			return nil, rec, r.missing(id)
		}
		return nil, rec, err
	}
	v, err := decode[T](rec)
	return v, rec, err
}

// get returns the record at id and its version.
func (r *repo[T]) get(ctx context.Context, id string) (*T, int64, error) {
	v, rec, err := r.read(ctx, id)
	return v, rec.Version, err
}

// list returns the records listed under index, in key order.
func (r *repo[T]) list(ctx context.Context, index string) ([]T, error) {
	recs, err := r.st.List(ctx, index)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(recs))
	for _, rec := range recs {
		v, err := decode[T](rec)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

// create writes v at id, which must not exist (store.ErrConflict).
func (r *repo[T]) create(ctx context.Context, id string, v *T) error {
	return r.write(ctx, id, v, r.st.Create)
}

// put writes v at id whether or not it exists.
func (r *repo[T]) put(ctx context.Context, id string, v *T) error {
	return r.write(ctx, id, v, r.st.Put)
}

func (r *repo[T]) write(ctx context.Context, id string, v *T, op func(context.Context, string, []byte, store.WriteOptions) (int64, error)) error {
	b, err := r.encode(id, v)
	if err != nil {
		return err
	}
	_, err = op(ctx, r.storeKey(id), b, r.writeOpts(v, store.Record{}))
	return err
}

// update changes the record at id with change and writes it with
// compare-and-set, reading and changing it again when another write came
// first; change must therefore be safe to run more than once. An error of
// change ends the update and is returned as it is (errUnchanged: the
// record is returned unwritten, and no error).
func (r *repo[T]) update(ctx context.Context, id string, change func(*T) error) (*T, error) {
	for {
		v, prev, err := r.read(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := change(v); err != nil {
			if errors.Is(err, errUnchanged) {
				return v, nil
			}
			return nil, err
		}
		_, err = r.replace(ctx, id, v, prev)
		switch {
		case err == nil:
			return v, nil
		case !errors.Is(err, store.ErrConflict):
			return nil, err
		}
	}
}

// replace writes v over prev, the record read at id, only if prev is
// still the current version (store.ErrConflict if not): the
// compare-and-set for a change that update cannot hold, because work
// happens between the read and the write (RotateAPIKey, RefreshGrant).
func (r *repo[T]) replace(ctx context.Context, id string, v *T, prev store.Record) (int64, error) {
	b, err := r.encode(id, v)
	if err != nil {
		return 0, err
	}
	return r.st.Update(ctx, r.storeKey(id), b, prev.Version, r.writeOpts(v, prev))
}

// delete removes the record at id: with version 0 whatever is there,
// otherwise only that version.
func (r *repo[T]) delete(ctx context.Context, id string, version int64) error {
	return r.st.Delete(ctx, r.storeKey(id), version)
}

// ttlUntil is the TTL of a record that stops mattering at t: a minute
// past it, so that a request at the last moment still finds it; zero
// (never expires) for the zero time.
func ttlUntil(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return time.Until(t) + time.Minute
}

// records are authz's repositories, one per kind of record.
type records struct {
	// users at "user/<name>", listed under "users".
	users repo[User]
	// creds are management records at "cred/<id>", listed under their
	// owner's, client's, family's and parent's indexes, and kept a
	// minute past their expiry.
	creds repo[Credential]
	// clients at "client/<id>", listed under their owner's index.
	clients repo[Client]
	// secrets are verification records, keyed by their digest ("dig/…",
	// the id is the key). Created, they live a minute past their expiry;
	// rewritten, they keep the expiry they had.
	secrets repo[secretRecord]
	// refs are the records that hold a string as it is, keyed by the
	// full store key: a handle's or ApiKey's credential id, a password
	// hash, the generated digest key.
	refs repo[string]
}

func newRecords(st store.Store) records {
	return records{
		users: repo[User]{st: st, key: userKey,
			opts: func(*User, store.Record) store.WriteOptions {
				return store.WriteOptions{Indexes: []string{usersIndex}}
			},
			missing: func(name string) error { return fmt.Errorf("%w: %q", ErrUserNotFound, name) },
		},
		creds: repo[Credential]{st: st, key: credKey,
			opts: func(c *Credential, _ store.Record) store.WriteOptions {
				return store.WriteOptions{Indexes: credIndexes(c), TTL: ttlUntil(c.Expires)}
			},
			missing:       func(id string) error { return fmt.Errorf("%w: %q", ErrNotFound, id) },
			badKeyMissing: true,
		},
		clients: repo[Client]{st: st, key: clientKey,
			opts: func(c *Client, _ store.Record) store.WriteOptions {
				return store.WriteOptions{Indexes: []string{clientsIndex(c.Owner)}}
			},
			missing:       func(id string) error { return fmt.Errorf("%w: client %q", ErrNotFound, id) },
			badKeyMissing: true,
		},
		secrets: repo[secretRecord]{st: st,
			opts: func(r *secretRecord, prev store.Record) store.WriteOptions {
				switch {
				case prev.Version == 0 && r.ExpiresMs > 0:
					return store.WriteOptions{TTL: ttlUntil(time.UnixMilli(r.ExpiresMs))}
				case !prev.ExpiresAt.IsZero():
					return store.WriteOptions{TTL: max(time.Until(prev.ExpiresAt), time.Millisecond)}
				}
				return store.WriteOptions{}
			},
		},
		refs: repo[string]{st: st},
	}
}
