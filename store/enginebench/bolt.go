package main

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/hub"
)

var boltEvents = []byte("events")

type boltEngine struct{ db *bolt.DB }

func openBolt(path string) (engine, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltEvents)
		return err
	})
	return &boltEngine{db}, err
}

func (b *boltEngine) commit(keys, values [][]byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(boltEvents)
		bk.FillPercent = 1 // keys only ever grow: pack pages full
		for i := range keys {
			if err := bk.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *boltEngine) replay(after uint64, n int) (got int, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltEvents).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil && got < n; k, v = c.Next() {
			var ev hub.Event
			if err := ev.UnmarshalBinary(v); err != nil {
				return err
			}
			got++
		}
		return nil
	})
	return got, err
}

func (b *boltEngine) close() error { return b.db.Close() }
