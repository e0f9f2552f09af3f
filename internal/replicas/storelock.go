package replicas

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	rl "k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/rewindhq/rewind/internal/rewind"
)

// LeaseStore keeps leases: each write names the version it read, and
// fails (false) when another replica wrote since.
type LeaseStore interface {
	Lease(ctx context.Context, name string) (record []byte, version int64, err error)
	CreateLease(ctx context.Context, name string, record []byte) (bool, error)
	UpdateLease(ctx context.Context, name string, record []byte, version int64) (bool, error)
}

// StoreLock is a lease kept in a row of the store (client-go's
// resourcelock.Interface), for replicas outside Kubernetes.
type StoreLock struct {
	Store LeaseStore
	Name  string // the lease's name, "leader"
	ID    string // this replica's identity

	mu      sync.Mutex
	version int64 // of the record last read or written
}

var _ rl.Interface = (*StoreLock)(nil)

var leaseResource = schema.GroupResource{Group: "rewind", Resource: "leases"}

// Get reads the lease; a lease nobody took yet is a NotFound error.
func (l *StoreLock) Get(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	raw, version, err := l.Store.Lease(ctx, l.Name)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		return nil, nil, apierrors.NewNotFound(leaseResource, l.Name)
	}
	if err != nil {
		return nil, nil, err
	}
	var rec rl.LeaderElectionRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, nil, fmt.Errorf("lease %s: %w", l.Name, err)
	}
	l.mu.Lock()
	l.version = version
	l.mu.Unlock()
	return &rec, raw, nil
}

// Create takes the lease nobody took yet.
func (l *StoreLock) Create(ctx context.Context, rec rl.LeaderElectionRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ok, err := l.Store.CreateLease(ctx, l.Name, raw)
	if err != nil {
		return err
	}
	if !ok {
		return apierrors.NewAlreadyExists(leaseResource, l.Name)
	}
	l.mu.Lock()
	l.version = 1
	l.mu.Unlock()
	return nil
}

// Update writes the lease over the version last read or written.
func (l *StoreLock) Update(ctx context.Context, rec rl.LeaderElectionRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	l.mu.Lock()
	version := l.version
	l.mu.Unlock()
	ok, err := l.Store.UpdateLease(ctx, l.Name, raw, version)
	if err != nil {
		return err
	}
	if !ok {
		return apierrors.NewConflict(leaseResource, l.Name, fmt.Errorf("the lease changed since version %d", version))
	}
	l.mu.Lock()
	if l.version == version {
		l.version = version + 1
	}
	l.mu.Unlock()
	return nil
}

// RecordEvent does nothing: the elector logs what happens.
func (l *StoreLock) RecordEvent(string) {}

// Identity is this replica's identity.
func (l *StoreLock) Identity() string { return l.ID }

// Describe names the lease in logs.
func (l *StoreLock) Describe() string { return "store lease " + l.Name }
