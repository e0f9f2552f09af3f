package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
)

const releaseCols = `r.id, r.workflow_id, r.number, r.name, r.commit_sha, r.url, r.started_by, r.started_at, r.finished_at, r.state, r.note,
	COALESCE(r.rollback_of, 0), COALESCE(r.request_id, 0), COALESCE(r.rolled_back_by, 0), r.blocked_at, r.blocked_by, r.block_reason`

// versionColsV is versionCols for a query that joins versions as v.
const versionColsV = `v.id, v.target_id, v.number, v.revision, v.content, v.hash, v.source, v.author, v.change_cause, v.images, v.meta, v.created_at, COALESCE(v.request_id, 0)`

type rowScanner interface{ Scan(...any) error }

func scanRelease(row rowScanner, extra ...any) (*rewind.Release, error) {
	var r rewind.Release
	var started string
	var finished, blocked sql.NullString
	dest := append([]any{&r.ID, &r.WorkflowID, &r.Number, &r.Name, &r.Commit, &r.URL, &r.StartedBy, &started, &finished, &r.State, &r.Note,
		&r.RollbackOf, &r.RequestID, &r.RolledBackBy, &blocked, &r.BlockedBy, &r.BlockReason}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.StartedAt = parseTime(started)
	r.FinishedAt = parseTimePtr(finished)
	r.BlockedAt = parseTimePtr(blocked)
	return &r, nil
}

// releaseTimeout returns the release timeout of workflow id, deleted or not.
func releaseTimeout(ctx context.Context, q querier, workflow int64) (time.Duration, error) {
	var secs int64
	if err := q.QueryRowContext(ctx, `SELECT release_timeout FROM workflows WHERE id = ?`, workflow).Scan(&secs); err != nil {
		return 0, notFound("Workflow", err)
	}
	return time.Duration(secs) * time.Second, nil
}

// StartRelease records r as the open release of its workflow, numbered
// after the workflow's last one, and records ev. It is refused while
// another release of the workflow is open and within its timeout.
func (s *Store) StartRelease(ctx context.Context, r *rewind.Release, ev rewind.AuditEvent) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		timeout, err := releaseTimeout(ctx, tx, r.WorkflowID)
		if err != nil {
			return err
		}
		open, err := scanRelease(tx.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases r
			WHERE r.workflow_id = ? AND r.state = 'open' ORDER BY r.number DESC LIMIT 1`, r.WorkflowID))
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		case !open.TimedOut(timeout, now):
			return rewind.Errorf(rewind.ECONFLICT, "Release %s (#%d) of this workflow is still open since %s; finish or fail it first, or wait until its timeout (%s) passes.",
				open.Name, open.Number, open.StartedAt.Format(time.RFC3339), timeout)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM releases WHERE workflow_id = ?`, r.WorkflowID).Scan(&r.Number); err != nil {
			return err
		}
		r.StartedAt, r.State, r.FinishedAt = now, rewind.ReleaseOpen, nil
		newID, err := insert(ctx, tx, `INSERT INTO releases (workflow_id, number, name, commit_sha, url, started_by, started_at, state, rollback_of, request_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
			r.WorkflowID, r.Number, r.Name, r.Commit, r.URL, r.StartedBy, fmtTime(now), nullID(r.RollbackOf), nullID(r.RequestID))
		if err != nil {
			return err
		}
		r.ID = newID
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("start release %s: %w", r.Name, err)
	}
	return nil
}

// FinishRelease ends open release id as state (succeeded or failed) with
// note, and records ev. The versions named (by ID) become its items first,
// then the versions observed in its window (see docs/releases.md). Named
// versions must belong to the workflow's targets and to no other release.
func (s *Store) FinishRelease(ctx context.Context, id int64, state rewind.ReleaseState, note string, named []int64, ev rewind.AuditEvent) (*rewind.Release, error) {
	if state != rewind.ReleaseSucceeded && state != rewind.ReleaseFailed {
		return nil, fmt.Errorf("finish release %d: bad state %q", id, state)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		r, err := scanRelease(tx.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases r WHERE r.id = ?`, id))
		if err != nil {
			return notFound("Release", err)
		}
		if r.State != rewind.ReleaseOpen {
			return rewind.Errorf(rewind.ECONFLICT, "Release %s (#%d) has already %s.", r.Name, r.Number, r.State)
		}
		timeout, err := releaseTimeout(ctx, tx, r.WorkflowID)
		if err != nil {
			return err
		}
		for _, v := range named {
			var inWorkflow bool
			var other sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM workflow_targets wt WHERE wt.workflow_id = ? AND wt.target_id = v.target_id),
				(SELECT ri.release_id FROM release_items ri WHERE ri.version_id = v.id)
				FROM versions v WHERE v.id = ?`, r.WorkflowID, v).Scan(&inWorkflow, &other)
			switch {
			case err == sql.ErrNoRows:
				return rewind.Errorf(rewind.EINVALID, "Version %d not found.", v)
			case err != nil:
				return err
			case !inWorkflow:
				return rewind.Errorf(rewind.EINVALID, "Version %d is of a target this workflow does not hold.", v)
			case other.Valid && other.Int64 != id:
				return rewind.Errorf(rewind.ECONFLICT, "Version %d is already an item of another release (#%d).", v, other.Int64)
			case other.Valid:
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, 'named')`, id, v); err != nil {
				return err
			}
		}
		r.FinishedAt = &now
		if _, err := tx.ExecContext(ctx, `INSERT INTO release_items (release_id, version_id, how)
			SELECT CAST(? AS BIGINT), v.id, 'observed' FROM versions v `+observedWhere+` ON CONFLICT DO NOTHING`, append([]any{id, r.WorkflowID}, windowArgs(r, timeout, now)...)...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE releases SET state = ?, finished_at = ?, note = ? WHERE id = ?`, state, fmtTime(now), note, id); err != nil {
			return err
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("finish release %d: %w", id, err)
	}
	return s.Release(ctx, id)
}

// observedWhere selects, of versions v, those observed in a window: the
// workflow's targets (arg 1), created in the window (windowArgs), not made
// by a Rewind rollback, no echo, no release's item yet.
const observedWhere = `JOIN workflow_targets wt ON wt.target_id = v.target_id AND wt.workflow_id = ?
	WHERE ` + inWindow + ` AND v.source != 'rollback' AND NOT ` + echoOfPrevious + `
	AND NOT EXISTS (SELECT 1 FROM release_items ri WHERE ri.version_id = v.id)`

// echoOfPrevious holds for a version v imported from the target's own
// history that repeats the version just before it: the change seen live a
// moment before and recorded again from Nacos history. It changed nothing.
const echoOfPrevious = `(v.source = 'imported' AND EXISTS (SELECT 1 FROM versions p
	WHERE p.target_id = v.target_id AND p.number = v.number - 1 AND p.hash = v.hash))`

// inWindow holds a version's time in a release's window, given windowArgs:
// from the start, or on the whole second the start lies in (a time that
// Kubernetes recorded to the second), until the window's end.
const inWindow = `((v.created_at = ? OR v.created_at >= ?) AND v.created_at <= ?)`

// windowArgs are the arguments of inWindow for release r.
func windowArgs(r *rewind.Release, timeout time.Duration, now time.Time) []any {
	from, to := r.Window(timeout, now)
	return []any{fmtTime(from), fmtTime(r.StartedAt), fmtTime(to)}
}

// Release returns the release with that ID and its items. While it is open
// its items include the versions observed in its window so far (how
// observed), computed as its finish would.
func (s *Store) Release(ctx context.Context, id int64) (*rewind.Release, error) {
	r, err := scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases r WHERE r.id = ?`, id))
	if err != nil {
		return nil, notFound("Release", err)
	}
	if err := s.loadItems(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// ReleaseByName returns the newest release named name of workflow wf, with
// its items.
func (s *Store) ReleaseByName(ctx context.Context, wf int64, name string) (*rewind.Release, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM releases WHERE workflow_id = ? AND name = ? ORDER BY number DESC LIMIT 1`, wf, name).Scan(&id)
	if err != nil {
		return nil, notFound("Release", err)
	}
	return s.Release(ctx, id)
}

// BlockedRelease returns the newest release of workflow wf named name whose
// name is blocked, or nil when none is.
func (s *Store) BlockedRelease(ctx context.Context, wf int64, name string) (*rewind.Release, error) {
	r, err := scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases r
		WHERE r.workflow_id = ? AND r.name = ? AND r.blocked_at IS NOT NULL ORDER BY r.number DESC LIMIT 1`, wf, name))
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blocked release %s: %w", name, err)
	}
	return r, nil
}

func (s *Store) loadItems(ctx context.Context, r *rewind.Release) error {
	items, err := s.items(ctx, `SELECT ri.release_id, ri.version_id, v.target_id, ri.how FROM release_items ri JOIN versions v ON v.id = ri.version_id
		WHERE ri.release_id = ? ORDER BY ri.version_id`, r.ID)
	if err != nil {
		return fmt.Errorf("items of release %d: %w", r.ID, err)
	}
	r.Items = items
	if r.State != rewind.ReleaseOpen {
		return nil
	}
	live, err := s.liveItems(ctx, r)
	if err != nil {
		return err
	}
	r.Items = append(r.Items, live...)
	slices.SortFunc(r.Items, func(a, b rewind.ReleaseItem) int { return int(a.VersionID - b.VersionID) })
	return nil
}

// liveItems are the versions open release r observed so far.
func (s *Store) liveItems(ctx context.Context, r *rewind.Release) ([]rewind.ReleaseItem, error) {
	timeout, err := releaseTimeout(ctx, s.db, r.WorkflowID)
	if err != nil {
		return nil, err
	}
	items, err := s.items(ctx, `SELECT CAST(? AS BIGINT), v.id, v.target_id, 'observed' FROM versions v `+observedWhere+` ORDER BY v.id`,
		append([]any{r.ID, r.WorkflowID}, windowArgs(r, timeout, s.now())...)...)
	if err != nil {
		return nil, fmt.Errorf("observed items of release %d: %w", r.ID, err)
	}
	return items, nil
}

func (s *Store) items(ctx context.Context, q string, args ...any) ([]rewind.ReleaseItem, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rewind.ReleaseItem
	for rows.Next() {
		var it rewind.ReleaseItem
		if err := rows.Scan(&it.ReleaseID, &it.VersionID, &it.TargetID, &it.How); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Releases lists all releases of workflow wf, newest first, with the counts
// of their items (an open release's live ones included).
func (s *Store) Releases(ctx context.Context, wf int64) ([]rewind.ReleaseSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+releaseCols+`,
		(SELECT COUNT(*) FROM release_items ri JOIN versions v ON v.id = ri.version_id JOIN targets t ON t.id = v.target_id WHERE ri.release_id = r.id AND t.kind = 'service'),
		(SELECT COUNT(*) FROM release_items ri JOIN versions v ON v.id = ri.version_id JOIN targets t ON t.id = v.target_id WHERE ri.release_id = r.id AND t.kind = 'config'),
		(SELECT COUNT(*) FROM release_items ri JOIN versions v ON v.id = ri.version_id JOIN targets t ON t.id = v.target_id WHERE ri.release_id = r.id AND t.kind = 'database')
		FROM releases r WHERE r.workflow_id = ? ORDER BY r.number DESC`, wf)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	var out []rewind.ReleaseSummary
	for rows.Next() {
		var c rewind.ItemCounts
		r, err := scanRelease(rows, &c.Services, &c.Configs, &c.SQL)
		if err != nil {
			return nil, err
		}
		out = append(out, rewind.ReleaseSummary{Release: r, Counts: c})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i, sum := range out {
		if sum.Release.State != rewind.ReleaseOpen {
			continue
		}
		live, err := s.liveItems(ctx, sum.Release)
		if err != nil {
			return nil, err
		}
		for _, it := range live {
			t, err := s.Target(ctx, it.TargetID)
			if err != nil {
				return nil, err
			}
			out[i].Counts.Add(t.Kind)
		}
	}
	return out, nil
}

// BlockRelease blocks the name of release id, by who for reason, and
// records ev. A blocked release cannot be blocked again.
func (s *Store) BlockRelease(ctx context.Context, id int64, by, reason string, ev rewind.AuditEvent) (*rewind.Release, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE releases SET blocked_at = ?, blocked_by = ?, block_reason = ? WHERE id = ? AND blocked_at IS NULL`,
			fmtTime(s.now()), by, reason, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.releaseMissingOr(ctx, tx, id, "This release is already blocked.")
		}
		if err := s.addAudit(ctx, tx, ev); err != nil {
			return err
		}
		return s.notice(ctx, tx, notify.Event{Kind: notify.EventReleaseBlocked, ReleaseID: id, Actor: ev.Actor, Detail: reason})
	})
	if err != nil {
		return nil, fmt.Errorf("block release %d: %w", id, err)
	}
	return s.Release(ctx, id)
}

// UnblockRelease lifts the block of release id and records ev (which says
// who and why).
func (s *Store) UnblockRelease(ctx context.Context, id int64, ev rewind.AuditEvent) (*rewind.Release, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE releases SET blocked_at = NULL, blocked_by = '', block_reason = '' WHERE id = ? AND blocked_at IS NOT NULL`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.releaseMissingOr(ctx, tx, id, "This release is not blocked.")
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("unblock release %d: %w", id, err)
	}
	return s.Release(ctx, id)
}

// releaseMissingOr says that release id does not exist, or else conflict.
func (s *Store) releaseMissingOr(ctx context.Context, q querier, id int64, conflict string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM releases WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return rewind.Errorf(rewind.ENOTFOUND, "Release not found.")
	}
	return rewind.Errorf(rewind.ECONFLICT, "%s", conflict)
}

// AddReleaseItem makes version versionID an item of release releaseID,
// got there how (attached, annotation, rollback, ...). Adding it again to
// the same release changes nothing; a version of another release is refused.
func (s *Store) AddReleaseItem(ctx context.Context, releaseID, versionID int64, how rewind.ItemHow) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var other int64
		err := tx.QueryRowContext(ctx, `SELECT release_id FROM release_items WHERE version_id = ?`, versionID).Scan(&other)
		switch {
		case err == nil && other == releaseID:
			return nil
		case err == nil:
			return rewind.Errorf(rewind.ECONFLICT, "Version %d is already an item of another release (#%d).", versionID, other)
		case err != sql.ErrNoRows:
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, ?)`, releaseID, versionID, how)
		return err
	})
	if err != nil {
		return fmt.Errorf("add version %d to release %d: %w", versionID, releaseID, err)
	}
	return nil
}

// ReleaseOfVersion returns the ID of the release version versionID is an
// item of, or 0.
func (s *Store) ReleaseOfVersion(ctx context.Context, versionID int64) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT release_id FROM release_items WHERE version_id = ?`, versionID).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return id, err
}

// OpenReleasesFor lists the open releases, within their timeout, of the
// workflows that hold target, newest first.
func (s *Store) OpenReleasesFor(ctx context.Context, target int64) ([]*rewind.Release, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+releaseCols+`, w.release_timeout FROM releases r
		JOIN workflows w ON w.id = r.workflow_id AND w.deleted_at IS NULL
		JOIN workflow_targets wt ON wt.workflow_id = w.id AND wt.target_id = ?
		WHERE r.state = 'open' ORDER BY r.started_at DESC, r.id DESC`, target)
	if err != nil {
		return nil, fmt.Errorf("open releases of target %d: %w", target, err)
	}
	defer rows.Close()
	now := s.now()
	var out []*rewind.Release
	for rows.Next() {
		var secs int64
		r, err := scanRelease(rows, &secs)
		if err != nil {
			return nil, err
		}
		if !r.TimedOut(time.Duration(secs)*time.Second, now) {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// AttachLate makes v an observed item of the finished release whose window
// holds v's time, when v was recorded only after that release finished (a
// watcher catching up). It returns the release's ID, or 0 when none fits.
func (s *Store) AttachLate(ctx context.Context, v *rewind.Version) (int64, error) {
	if v.Source == rewind.SourceRollback {
		return 0, nil
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM release_items WHERE version_id = ?`, v.ID).Scan(&n); err != nil || n > 0 {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+releaseCols+`, w.release_timeout FROM releases r
			JOIN workflows w ON w.id = r.workflow_id AND w.deleted_at IS NULL
			JOIN workflow_targets wt ON wt.workflow_id = w.id AND wt.target_id = ?
			WHERE r.state != 'open' AND r.started_at <= ? AND r.finished_at >= ? ORDER BY r.started_at DESC`,
			v.TargetID, fmtTime(v.CreatedAt.Add(time.Second)), fmtTime(v.CreatedAt))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var secs int64
			r, err := scanRelease(rows, &secs)
			if err != nil {
				return err
			}
			if r.Holds(v.CreatedAt, time.Duration(secs)*time.Second, s.now()) {
				id = r.ID
				break
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if id == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO release_items (release_id, version_id, how) VALUES (?, ?, 'observed')`, id, v.ID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("attach version %d late: %w", v.ID, err)
	}
	return id, nil
}

// UnreleasedChanges returns one page of the unreleased changes of workflow
// wf, newest first, and how many there are: versions of its targets
// recorded after the workflow was made, that are no release's item and not
// inside an open release's window.
func (s *Store) UnreleasedChanges(ctx context.Context, wf int64, offset, limit int) ([]*rewind.Version, int, error) {
	var created string
	var secs int64
	if err := s.db.QueryRowContext(ctx, `SELECT created_at, release_timeout FROM workflows WHERE id = ?`, wf).Scan(&created, &secs); err != nil {
		return nil, 0, notFound("Workflow", err)
	}
	where := []string{"v.created_at >= ?", "NOT EXISTS (SELECT 1 FROM release_items ri WHERE ri.version_id = v.id)", "NOT " + echoOfPrevious}
	args := []any{wf, created}
	open, err := s.releasesWhere(ctx, `r.workflow_id = ? AND r.state = 'open'`, wf)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range open {
		where = append(where, "NOT "+inWindow)
		args = append(args, windowArgs(r, time.Duration(secs)*time.Second, s.now())...)
	}
	from := ` FROM versions v JOIN workflow_targets wt ON wt.target_id = v.target_id AND wt.workflow_id = ? WHERE ` + strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count unreleased changes: %w", err)
	}
	page := int64(limit)
	if page <= 0 {
		page = math.MaxInt64 // no limit; both engines take it
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+versionColsV+from+` ORDER BY v.created_at DESC, v.id DESC LIMIT ? OFFSET ?`, append(args, page, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list unreleased changes: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, rows.Err()
}

func (s *Store) releasesWhere(ctx context.Context, where string, args ...any) ([]*rewind.Release, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases r WHERE `+where+` ORDER BY r.number DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	var out []*rewind.Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// VersionsBefore returns, for each target release id touched, the newest
// version recorded before the release's first item on that target; the
// value is nil when there is none (the release created the target).
func (s *Store) VersionsBefore(ctx context.Context, id int64) (map[int64]*rewind.Version, error) {
	r, err := s.Release(ctx, id)
	if err != nil {
		return nil, err
	}
	first := map[int64]int64{} // target → number of its first item
	for _, it := range r.Items {
		v, err := s.Version(ctx, it.VersionID)
		if err != nil {
			return nil, err
		}
		if n, ok := first[it.TargetID]; !ok || v.Number < n {
			first[it.TargetID] = v.Number
		}
	}
	out := make(map[int64]*rewind.Version, len(first))
	for t, n := range first {
		v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionCols+` FROM versions WHERE target_id = ? AND number < ? ORDER BY number DESC LIMIT 1`, t, n))
		switch {
		case err == sql.ErrNoRows:
			out[t] = nil
		case err != nil:
			return nil, fmt.Errorf("version before release %d on target %d: %w", id, t, err)
		default:
			out[t] = v
		}
	}
	return out, nil
}

// RequestState returns the state of request id, for a release's status
// (rolled back when the request that rolled it back succeeded).
func (s *Store) RequestState(ctx context.Context, id int64) (rewind.State, error) {
	var st rewind.State
	if err := s.db.QueryRowContext(ctx, `SELECT state FROM requests WHERE id = ?`, id).Scan(&st); err != nil {
		return "", notFound("Request", err)
	}
	return st, nil
}
