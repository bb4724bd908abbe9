// Package board plays "the other team's backend" of the task-board demo: it
// owns the tasks and their claims, and tells the hub about every change the
// way a separate service would, over the hub's HTTP publish API with a token
// of its own. It does not import the hub.
//
// Every change is published while the board's lock is held, so the order of
// the events in the hub's log is the order of the changes, and a snapshot
// (a "board-start" event) sits in that order too: a page that applies the
// events of its stream in order always ends up with the current state.
package board

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ssehub/ssehub/publisher"
)

// Topics and event types of the board.
const (
	// TasksTopic carries every change: "task-claimed" and "board-reset".
	TasksTopic = "board/tasks"
	// ClientTopicPrefix + a client's id carries that client's "board-start".
	ClientTopicPrefix = "board/clients/"

	TypeStart   = "board-start"
	TypeClaimed = "task-claimed"
	TypeReset   = "board-reset"
)

// TokenScope is the topic selector the board's token must allow.
const TokenScope = "board/{+rest}"

// Task is one card on the board.
type Task struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Column    string     `json:"column"`
	ClaimedBy string     `json:"claimedBy,omitempty"`
	ClaimedAt *time.Time `json:"claimedAt,omitempty"`
}

// State is the whole board, as the start and reset events carry it.
type State struct {
	Columns []string `json:"columns"`
	Tasks   []Task   `json:"tasks"`
	// Version counts the changes since the board started.
	Version int `json:"version"`
}

// Errors of Claim and Start.
var (
	ErrNoTask       = errors.New("no such task")
	ErrClaimed      = errors.New("task already claimed")
	ErrInvalidName  = errors.New("name must be 1 to 40 characters, without control characters")
	ErrInvalidNonce = errors.New("client id must be 8 to 64 letters, digits, '-' or '_'")
)

// Publisher sends an event to the hub and returns its id.
type Publisher interface {
	Publish(ctx context.Context, ev publisher.Event) (string, error)
}

// Board owns the tasks.
type Board struct {
	pub Publisher
	now func() time.Time

	mu      sync.Mutex
	tasks   []Task
	version int
}

// New returns a board in its starting state, publishing through pub.
func New(pub Publisher, now func() time.Time) *Board {
	if now == nil {
		now = time.Now
	}
	return &Board{pub: pub, now: now, tasks: startingTasks()}
}

// Columns of the board, in order.
var columns = []string{"Warehouse", "Delivery", "Support"}

func startingTasks() []Task {
	return []Task{
		{ID: "T-101", Title: "Restock aisle 4 shelves", Column: "Warehouse"},
		{ID: "T-102", Title: "Count pallets in bay C", Column: "Warehouse"},
		{ID: "T-103", Title: "Check the cold-room thermometer", Column: "Warehouse"},
		{ID: "T-201", Title: "Morning route: north district", Column: "Delivery"},
		{ID: "T-202", Title: "Pick up returns at the depot", Column: "Delivery"},
		{ID: "T-203", Title: "Deliver the spare parts to site 7", Column: "Delivery"},
		{ID: "T-301", Title: "Call back the customer on ticket 4512", Column: "Support"},
		{ID: "T-302", Title: "Replace the card reader at till 2", Column: "Support"},
		{ID: "T-303", Title: "Answer the overnight emails", Column: "Support"},
	}
}

// Snapshot returns the current state.
func (b *Board) Snapshot() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateLocked()
}

func (b *Board) stateLocked() State {
	tasks := make([]Task, len(b.tasks))
	copy(tasks, b.tasks)
	return State{Columns: slices.Clone(columns), Tasks: tasks, Version: b.version}
}

// Task returns one task.
func (b *Board) Task(id string) (Task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.indexLocked(id)
	if i < 0 {
		return Task{}, ErrNoTask
	}
	return b.tasks[i], nil
}

func (b *Board) indexLocked(id string) int {
	return slices.IndexFunc(b.tasks, func(t Task) bool { return t.ID == id })
}

// Claim marks a task as claimed by name and publishes the change. It fails
// with ErrClaimed if someone already claimed it; if the hub refuses the
// event, the claim is undone and the error returned.
func (b *Board) Claim(ctx context.Context, id, name string) (Task, error) {
	name = strings.TrimSpace(name)
	if !validName(name) {
		return Task{}, ErrInvalidName
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.indexLocked(id)
	if i < 0 {
		return Task{}, ErrNoTask
	}
	if b.tasks[i].ClaimedBy != "" {
		return b.tasks[i], ErrClaimed
	}
	before := b.tasks[i]
	at := b.now().UTC().Truncate(time.Second)
	b.tasks[i].ClaimedBy, b.tasks[i].ClaimedAt = name, &at
	b.version++
	ev := publisher.Event{Topic: TasksTopic, Type: TypeClaimed, Data: struct {
		Task    Task `json:"task"`
		Version int  `json:"version"`
	}{b.tasks[i], b.version}}
	if _, err := b.pub.Publish(ctx, ev); err != nil {
		b.tasks[i] = before
		b.version--
		return Task{}, fmt.Errorf("telling the hub: %w", err)
	}
	return b.tasks[i], nil
}

// Reset restores the starting tasks and publishes the new state.
func (b *Board) Reset(ctx context.Context) (State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	before, version := b.tasks, b.version
	b.tasks = startingTasks()
	b.version++
	st := b.stateLocked()
	if _, err := b.pub.Publish(ctx, publisher.Event{Topic: TasksTopic, Type: TypeReset, Data: st}); err != nil {
		b.tasks, b.version = before, version
		return State{}, fmt.Errorf("telling the hub: %w", err)
	}
	return st, nil
}

var nonceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// Start publishes the current state as a "board-start" event to the
// client's own topic and returns the event's id. The client subscribes to
// TasksTopic and its own topic first, then calls Start: changes made before
// the snapshot reach it before the snapshot (which supersedes them), changes
// made after reach it after, so none is missed.
func (b *Board) Start(ctx context.Context, client string) (string, error) {
	if !nonceRE.MatchString(client) {
		return "", ErrInvalidNonce
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	id, err := b.pub.Publish(ctx, publisher.Event{Topic: ClientTopicPrefix + client, Type: TypeStart, Data: b.stateLocked()})
	if err != nil {
		return "", fmt.Errorf("telling the hub: %w", err)
	}
	return id, nil
}

func validName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 40 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
