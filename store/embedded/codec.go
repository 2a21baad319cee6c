package embedded

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keygate/keygate/store"
)

// formatV1 is the first byte of every encoded record and the file's format
// in bucketMeta.
const formatV1 = 1

// errCorrupt is returned for a stored value that does not decode.
var errCorrupt = errors.New("corrupt record")

// rec is a record as stored. After decoding inside a transaction, value
// points into bbolt's memory and must be copied before the transaction ends.
type rec struct {
	version   int64
	expiresMs int64 // unix milliseconds; 0 never expires
	indexes   []string
	value     []byte
}

// live reports whether r has not expired at nowMs.
func (r rec) live(nowMs int64) bool { return r.expiresMs == 0 || r.expiresMs > nowMs }

// record copies r out of the transaction as a store.Record.
func (r rec) record(key string) store.Record {
	out := store.Record{Key: key, Value: slices.Clone(r.value), Version: r.version}
	if out.Value == nil {
		out.Value = []byte{}
	}
	if r.expiresMs != 0 {
		out.ExpiresAt = time.UnixMilli(r.expiresMs)
	}
	return out
}

// lists reports whether r is listed under index.
func (r rec) lists(index string) bool { return slices.Contains(r.indexes, index) }

// encode lays r out as: format byte, version (8 bytes), expiry ms (8 bytes),
// uvarint index count, each index as uvarint length and bytes, then value.
func (r rec) encode() []byte {
	n := 1 + 8 + 8 + binary.MaxVarintLen64 + len(r.value)
	for _, idx := range r.indexes {
		n += binary.MaxVarintLen64 + len(idx)
	}
	b := make([]byte, 0, n)
	b = append(b, formatV1)
	b = binary.BigEndian.AppendUint64(b, uint64(r.version))
	b = binary.BigEndian.AppendUint64(b, uint64(r.expiresMs))
	b = binary.AppendUvarint(b, uint64(len(r.indexes)))
	for _, idx := range r.indexes {
		b = binary.AppendUvarint(b, uint64(len(idx)))
		b = append(b, idx...)
	}
	return append(b, r.value...)
}

func decode(b []byte) (rec, error) {
	var r rec
	if len(b) < 17 || b[0] != formatV1 {
		return r, errCorrupt
	}
	r.version = int64(binary.BigEndian.Uint64(b[1:]))
	r.expiresMs = int64(binary.BigEndian.Uint64(b[9:]))
	b = b[17:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return r, errCorrupt
	}
	b = b[n:]
	if count > 0 {
		r.indexes = make([]string, 0, count)
	}
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return r, errCorrupt
		}
		r.indexes = append(r.indexes, string(b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	r.value = b
	return r, nil
}

// indexKey is the key of key's membership in index: the index name, a zero
// byte (below every byte a name may hold) and the record key, so one index's
// members are contiguous and in key order.
func indexKey(index, key string) []byte {
	b := make([]byte, 0, len(index)+1+len(key))
	b = append(b, index...)
	b = append(b, 0)
	return append(b, key...)
}

// expiryKey orders records by expiry: 8 bytes big-endian ms, then the key.
func expiryKey(ms int64, key string) []byte {
	b := make([]byte, 0, 8+len(key))
	b = binary.BigEndian.AppendUint64(b, uint64(ms))
	return append(b, key...)
}

func expiryTime(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

// loadRecord reads the record at key, expired or not; ok is false if there
// is none.
func loadRecord(tx *bolt.Tx, key string) (r rec, ok bool, err error) {
	v := tx.Bucket(bucketRecords).Get([]byte(key))
	if v == nil {
		return r, false, nil
	}
	r, err = decode(v)
	if err != nil {
		return r, false, err
	}
	return r, true, nil
}

// putRecord stores r at key with its index and expiry entries. The previous
// record, if any, must have been removed with deleteRecord.
func putRecord(tx *bolt.Tx, key string, r rec) error {
	if err := tx.Bucket(bucketRecords).Put([]byte(key), r.encode()); err != nil {
		return err
	}
	ib := tx.Bucket(bucketIndex)
	for _, idx := range r.indexes {
		if err := ib.Put(indexKey(idx, key), nil); err != nil {
			return err
		}
	}
	if r.expiresMs != 0 {
		return tx.Bucket(bucketExpiry).Put(expiryKey(r.expiresMs, key), nil)
	}
	return nil
}

// deleteRecord removes the record r stored at key and its index and expiry
// entries.
func deleteRecord(tx *bolt.Tx, key string, r rec) error {
	ib := tx.Bucket(bucketIndex)
	for _, idx := range r.indexes {
		if err := ib.Delete(indexKey(idx, key)); err != nil {
			return err
		}
	}
	if r.expiresMs != 0 {
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(r.expiresMs, key)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketRecords).Delete([]byte(key))
}
