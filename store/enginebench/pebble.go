package main

import (
	"encoding/binary"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ssehub/ssehub/hub"
)

type pebbleEngine struct{ db *pebble.DB }

func openPebble(dir string) (engine, error) {
	db, err := pebble.Open(dir, &pebble.Options{})
	return &pebbleEngine{db}, err
}

func (p *pebbleEngine) commit(keys, values [][]byte) error {
	b := p.db.NewBatch()
	for i := range keys {
		if err := b.Set(keys[i], values[i], nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (p *pebbleEngine) replay(after uint64, n int) (got int, err error) {
	it, err := p.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for ok := it.SeekGE(binary.BigEndian.AppendUint64(nil, after+1)); ok && got < n; ok = it.Next() {
		var ev hub.Event
		if err := ev.UnmarshalBinary(it.Value()); err != nil {
			return got, err
		}
		got++
	}
	return got, it.Error()
}

func (p *pebbleEngine) close() error { return p.db.Close() }
