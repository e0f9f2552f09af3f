package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/rewind"
)

// notice writes ev to the outbox in tx, the transaction of the change it
// reports, so that the event is recorded if and only if the change is. Its
// environment is found from its request or release when not given.
func (s *Store) notice(ctx context.Context, tx *sql.Tx, ev notify.Event) error {
	if ev.Kind == "" {
		return nil
	}
	if ev.EnvironmentID == 0 {
		var err error
		switch {
		case ev.RequestID != 0:
			err = tx.QueryRowContext(ctx, `SELECT environment_id FROM requests WHERE id = ?`, ev.RequestID).Scan(&ev.EnvironmentID)
		case ev.ReleaseID != 0:
			err = tx.QueryRowContext(ctx, `SELECT w.environment_id FROM releases r JOIN workflows w ON w.id = r.workflow_id WHERE r.id = ?`, ev.ReleaseID).Scan(&ev.EnvironmentID)
		}
		if err != nil {
			return fmt.Errorf("outbox %s: %w", ev.Kind, err)
		}
	}
	if ev.Actor == "" {
		ev.Actor = "rewind"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO notify_events (kind, environment_id, request_id, release_id, step, actor, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Kind, nullID(ev.EnvironmentID), nullID(ev.RequestID), nullID(ev.ReleaseID), ev.Step, ev.Actor, ev.Detail, fmtTime(s.now()))
	if err != nil {
		return fmt.Errorf("outbox %s: %w", ev.Kind, err)
	}
	s.wakeMu.Lock()
	s.wakeTx[tx] = true
	s.wakeMu.Unlock()
	return nil
}

// OnNotice sets fn to be called after each commit that wrote to the
// outbox, so that the sender need not wait for its next look.
func (s *Store) OnNotice(fn func()) {
	s.wakeMu.Lock()
	s.onNotice = fn
	s.wakeMu.Unlock()
}

// committed tells the sender, if tx wrote to the outbox, that it may look.
func (s *Store) committed(tx *sql.Tx, ok bool) {
	s.wakeMu.Lock()
	wrote, fn := s.wakeTx[tx], s.onNotice
	delete(s.wakeTx, tx)
	s.wakeMu.Unlock()
	if ok && wrote && fn != nil {
		fn()
	}
}

// requestNotice is the outbox event of a request's move from one state to
// next, done by ev's actor (the system when nil), with the outcome text or
// else ev's detail (an approver's comment).
func requestNotice(id int64, from, next rewind.State, outcome string, ev *rewind.AuditEvent) notify.Event {
	n := notify.Event{Kind: notify.RequestEvent(from, next), RequestID: id, Detail: outcome}
	if ev != nil {
		n.Actor = ev.Actor
		if n.Detail == "" {
			n.Detail = ev.Detail
		}
	}
	return n
}

// channelCols are the columns of a channel, its sealed secret included.
const channelCols = `id, name, kind, locale, settings, secret_enc, shown, enabled, created_by, created_at`

func (s *Store) scanChannel(row rowScanner) (*notify.Channel, error) {
	var c notify.Channel
	var settings, created string
	var sealed []byte
	if err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.Locale, &settings, &sealed, &c.Shown, &c.Enabled, &c.CreatedBy, &created); err != nil {
		return nil, err
	}
	c.CreatedAt = parseTime(created)
	if err := json.Unmarshal([]byte(settings), &c.SMTP); err != nil {
		return nil, fmt.Errorf("channel %s: settings: %w", c.Name, err)
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", c.Name, err)
	}
	if len(plain) > 0 {
		if err := json.Unmarshal(plain, &c.Secret); err != nil {
			return nil, fmt.Errorf("channel %s: secret: %w", c.Name, err)
		}
	}
	return &c, nil
}

// SaveChannel adds a channel, or updates one (c.ID set) keeping its kind;
// the secret is sealed before it is stored.
func (s *Store) SaveChannel(ctx context.Context, c *notify.Channel) error {
	settings, err := json.Marshal(c.SMTP)
	if err != nil {
		return err
	}
	secret, err := json.Marshal(c.Secret)
	if err != nil {
		return err
	}
	sealed, err := s.box.Seal(secret)
	if err != nil {
		return fmt.Errorf("seal channel secret: %w", err)
	}
	if c.ID != 0 {
		res, err := s.db.ExecContext(ctx, `UPDATE notify_channels SET name = ?, locale = ?, settings = ?, secret_enc = ?, shown = ?, enabled = ?
			WHERE id = ? AND kind = ? AND deleted_at IS NULL`, c.Name, c.Locale, string(settings), sealed, c.Shown, c.Enabled, c.ID, c.Kind)
		if err != nil {
			return uniqueErr("A channel", c.Name, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ENOTFOUND, "Channel not found.")
		}
		return nil
	}
	c.CreatedAt = s.now()
	err = s.db.QueryRowContext(ctx, `INSERT INTO notify_channels (name, kind, locale, settings, secret_enc, shown, enabled, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, c.Name, c.Kind, c.Locale, string(settings), sealed, c.Shown, c.Enabled, c.CreatedBy, fmtTime(c.CreatedAt)).Scan(&c.ID)
	if err != nil {
		return uniqueErr("A channel", c.Name, err)
	}
	return nil
}

// Channel returns the channel with that ID, removed ones included (their
// deliveries still name them), with its secret opened.
func (s *Store) Channel(ctx context.Context, id int64) (*notify.Channel, error) {
	c, err := s.scanChannel(s.db.QueryRowContext(ctx, `SELECT `+channelCols+` FROM notify_channels WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Channel", err)
	}
	return c, nil
}

// Channels lists the channels not removed, by name.
func (s *Store) Channels(ctx context.Context) ([]*notify.Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelCols+` FROM notify_channels WHERE deleted_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	var out []*notify.Channel
	for rows.Next() {
		c, err := s.scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetChannelEnabled turns a channel on or off. Deliveries waiting for a
// channel turned off are given up, to be sent again by hand.
func (s *Store) SetChannelEnabled(ctx context.Context, id int64, on bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notify_channels SET enabled = ? WHERE id = ? AND deleted_at IS NULL`, on, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ENOTFOUND, "Channel not found.")
		}
		if on {
			return nil
		}
		return giveUpQueued(ctx, tx, id, "The channel was turned off.")
	})
}

// DeleteChannel removes a channel and its rules; it stays recorded for
// its deliveries, and those still waiting are given up.
func (s *Store) DeleteChannel(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notify_channels SET deleted_at = ?, enabled = 0 WHERE id = ? AND deleted_at IS NULL`, fmtTime(s.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ENOTFOUND, "Channel not found.")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM notify_rules WHERE channel_id = ?`, id); err != nil {
			return err
		}
		return giveUpQueued(ctx, tx, id, "The channel was removed.")
	})
}

func giveUpQueued(ctx context.Context, tx *sql.Tx, channel int64, why string) error {
	_, err := tx.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'failed', last_error = ? WHERE channel_id = ? AND state = 'queued'`, why, channel)
	return err
}

const ruleCols = `id, channel_id, COALESCE(environment_id, 0), COALESCE(workflow_id, 0), events, COALESCE(user_id, 0), locale, mine_only, created_by, created_at`

func scanRule(row rowScanner) (notify.Rule, error) {
	var r notify.Rule
	var events, created string
	err := row.Scan(&r.ID, &r.ChannelID, &r.EnvironmentID, &r.WorkflowID, &events, &r.UserID, &r.Locale, &r.MineOnly, &r.CreatedBy, &created)
	r.Events, r.CreatedAt = notify.SplitEvents(events), parseTime(created)
	return r, err
}

// AddRule stores a rule.
func (s *Store) AddRule(ctx context.Context, r *notify.Rule) error {
	r.CreatedAt = s.now()
	err := s.db.QueryRowContext(ctx, `INSERT INTO notify_rules (channel_id, environment_id, workflow_id, events, user_id, locale, mine_only, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, r.ChannelID, nullID(r.EnvironmentID), nullID(r.WorkflowID), notify.JoinEvents(r.Events),
		nullID(r.UserID), r.Locale, r.MineOnly, r.CreatedBy, fmtTime(r.CreatedAt)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("add rule: %w", err)
	}
	return nil
}

// Rule returns the rule with that ID.
func (s *Store) Rule(ctx context.Context, id int64) (*notify.Rule, error) {
	r, err := scanRule(s.db.QueryRowContext(ctx, `SELECT `+ruleCols+` FROM notify_rules WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Rule", err)
	}
	return &r, nil
}

// DeleteRule removes a rule.
func (s *Store) DeleteRule(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_rules WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rewind.Errorf(rewind.ENOTFOUND, "Rule not found.")
	}
	return nil
}

// Rules lists the rules, the channels' first, then the subscriptions;
// userID > 0 keeps that user's subscriptions only.
func (s *Store) Rules(ctx context.Context, userID int64) ([]notify.Rule, error) {
	q, args := `SELECT `+ruleCols+` FROM notify_rules ORDER BY user_id IS NOT NULL, id`, []any{}
	if userID > 0 {
		q, args = `SELECT `+ruleCols+` FROM notify_rules WHERE user_id = ? ORDER BY id`, []any{userID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	defer rows.Close()
	var out []notify.Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const eventCols = `id, kind, COALESCE(environment_id, 0), COALESCE(request_id, 0), COALESCE(release_id, 0), step, actor, detail, created_at`

func scanEvent(row rowScanner) (notify.Event, error) {
	var e notify.Event
	var created string
	err := row.Scan(&e.ID, &e.Kind, &e.EnvironmentID, &e.RequestID, &e.ReleaseID, &e.Step, &e.Actor, &e.Detail, &created)
	e.At = parseTime(created)
	return e, err
}

// Event returns the outbox event with that ID.
func (s *Store) Event(ctx context.Context, id int64) (*notify.Event, error) {
	e, err := scanEvent(s.db.QueryRowContext(ctx, `SELECT `+eventCols+` FROM notify_events WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Event", err)
	}
	return &e, nil
}

// UnroutedEvents returns up to limit outbox events not yet routed, oldest first.
func (s *Store) UnroutedEvents(ctx context.Context, limit int) ([]notify.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+eventCols+` FROM notify_events WHERE routed_at IS NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var out []notify.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Route queues deliveries of event ev, each due at its NextAt (now when
// zero), and marks it routed, in one transaction. A delivery already queued for the same channel and
// recipient is not queued twice; an event routed meanwhile by another
// sender gives ECONFLICT and queues nothing.
func (s *Store) Route(ctx context.Context, ev int64, ds []notify.Delivery) error {
	now := fmtTime(s.now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notify_events SET routed_at = ? WHERE id = ? AND routed_at IS NULL`, now, ev)
		if err != nil {
			return fmt.Errorf("route event %d: %w", ev, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ECONFLICT, "The event was routed meanwhile.")
		}
		for _, d := range ds {
			next := now
			if !d.NextAt.IsZero() {
				next = fmtTime(d.NextAt)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO notify_deliveries (event_id, channel_id, recipient, locale, state, next_at, created_at)
				VALUES (?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (event_id, channel_id, recipient) DO NOTHING`,
				ev, d.ChannelID, d.Recipient, d.Locale, next, now); err != nil {
				return fmt.Errorf("queue delivery of event %d: %w", ev, err)
			}
		}
		return nil
	})
}

// RequestWorkflows returns the workflows request id belongs to: its
// release's, else those holding one of its steps' targets.
func (s *Store) RequestWorkflows(ctx context.Context, id int64) ([]int64, error) {
	return s.ids(ctx, `SELECT w.workflow_id FROM requests r JOIN releases w ON w.id = r.release_id WHERE r.id = ?
		UNION SELECT wt.workflow_id FROM request_steps st JOIN workflow_targets wt ON wt.target_id = st.target_id
		WHERE st.request_id = ? AND NOT EXISTS (SELECT 1 FROM requests r2 WHERE r2.id = ? AND r2.release_id IS NOT NULL)`, id, id, id)
}

const deliveryCols = `id, event_id, channel_id, recipient, locale, state, attempts, attempts_before, next_at, last_error, sent_at, created_at`

func scanDelivery(row rowScanner) (notify.Delivery, error) {
	var d notify.Delivery
	var next, created string
	var sent sql.NullString
	err := row.Scan(&d.ID, &d.EventID, &d.ChannelID, &d.Recipient, &d.Locale, &d.State, &d.Attempts, &d.AttemptsBefore, &next, &d.LastError, &sent, &created)
	d.NextAt, d.CreatedAt, d.SentAt = parseTime(next), parseTime(created), parseTimePtr(sent)
	return d, err
}

// Delivery returns the delivery with that ID.
func (s *Store) Delivery(ctx context.Context, id int64) (*notify.Delivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("Delivery", err)
	}
	return &d, nil
}

// Deliveries lists up to limit deliveries, newest first; states, when
// given, keeps those in one of them.
func (s *Store) Deliveries(ctx context.Context, states []notify.DeliveryState, limit int) ([]notify.Delivery, error) {
	q, args := `SELECT `+deliveryCols+` FROM notify_deliveries`, []any{}
	if len(states) > 0 {
		q += ` WHERE state IN (?` + strings.Repeat(", ?", len(states)-1) + `)`
		for _, st := range states {
			args = append(args, st)
		}
	}
	q += ` ORDER BY id DESC LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []notify.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Attempts lists the attempts at delivery id, first first.
func (s *Store) Attempts(ctx context.Context, id int64) ([]notify.Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT delivery_id, number, started_at, finished_at, outcome, error FROM notify_attempts WHERE delivery_id = ? ORDER BY number`, id)
	if err != nil {
		return nil, fmt.Errorf("attempts of delivery %d: %w", id, err)
	}
	defer rows.Close()
	var out []notify.Attempt
	for rows.Next() {
		var a notify.Attempt
		var started string
		var finished sql.NullString
		if err := rows.Scan(&a.DeliveryID, &a.Number, &started, &finished, &a.Outcome, &a.Error); err != nil {
			return nil, err
		}
		a.StartedAt, a.FinishedAt = parseTime(started), parseTimePtr(finished)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Claim takes up to limit deliveries due at now for one sender: queued
// ones whose time has come, and those claimed by a sender whose lease ran
// out or whose attempt started before takeBefore (a sender that stopped
// during its attempt, whose outcome becomes unknown; a zero takeBefore
// takes none that way). Each claim is a conditional update, so two senders
// never take the same delivery; the claim holds until until and records
// the attempt it starts.
func (s *Store) Claim(ctx context.Context, now, until, takeBefore time.Time, limit int) ([]notify.Claim, error) {
	at, before := fmtTime(now), ""
	if !takeBefore.IsZero() {
		before = fmtTime(takeBefore)
	}
	const stale = `(state = 'sending' AND (lease_until < ? OR EXISTS (SELECT 1 FROM notify_attempts a
		WHERE a.delivery_id = notify_deliveries.id AND a.outcome = 'sending' AND a.started_at < ?)))`
	ids, err := s.ids(ctx, `SELECT id FROM notify_deliveries WHERE (state = 'queued' AND next_at <= ?) OR `+stale+`
		ORDER BY next_at, id LIMIT ?`, at, at, before, limit)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	var out []notify.Claim
	for _, id := range ids {
		var c notify.Claim
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'sending', attempts = attempts + 1, lease_until = ?
				WHERE id = ? AND ((state = 'queued' AND next_at <= ?) OR `+stale+`)`, fmtTime(until), id, at, at, before)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errTaken
			}
			if c.Delivery, err = scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE id = ?`, id)); err != nil {
				return err
			}
			res, err = tx.ExecContext(ctx, `UPDATE notify_attempts SET outcome = 'unknown', finished_at = ?, error = ? WHERE delivery_id = ? AND outcome = 'sending'`,
				at, notify.UnknownOutcome, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				c.Repeat = true
			}
			c.Attempt = c.Delivery.Attempts
			_, err = tx.ExecContext(ctx, `INSERT INTO notify_attempts (delivery_id, number, started_at, outcome) VALUES (?, ?, ?, 'sending')`, id, c.Attempt, at)
			return err
		})
		switch {
		case errors.Is(err, errTaken):
			continue
		case err != nil:
			return out, fmt.Errorf("claim delivery %d: %w", id, err)
		}
		out = append(out, c)
	}
	return out, nil
}

var errTaken = errors.New("taken by another sender")

// Finish records the end of attempt c: sent, or failed with errText and,
// when retry is set, queued again for then; else given up. It fails with
// ECONFLICT when the claim was lost (its lease ran out and another sender
// took the delivery).
func (s *Store) Finish(ctx context.Context, c notify.Claim, sent bool, errText string, retry *time.Time) error {
	now := fmtTime(s.now())
	outcome, state, next, sentAt := notify.AttemptSent, notify.DeliverySent, c.Delivery.NextAt, any(now)
	if !sent {
		outcome, state, sentAt = notify.AttemptFailed, notify.DeliveryFailed, nil
		if retry != nil {
			state, next = notify.DeliveryQueued, *retry
		}
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE notify_attempts SET outcome = ?, error = ?, finished_at = ? WHERE delivery_id = ? AND number = ? AND outcome = 'sending'`,
			outcome, errText, now, c.Delivery.ID, c.Attempt); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE notify_deliveries SET state = ?, next_at = ?, lease_until = NULL, last_error = ?, sent_at = ?
			WHERE id = ? AND state = 'sending' AND attempts = ?`, state, fmtTime(next), errText, sentAt, c.Delivery.ID, c.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rewind.Errorf(rewind.ECONFLICT, "Another sender took delivery %d meanwhile.", c.Delivery.ID)
		}
		return nil
	})
}

// Requeue queues a failed delivery again at once ("send again"), with a
// fresh count of attempts toward the bound; its attempts stay recorded.
func (s *Store) Requeue(ctx context.Context, id int64) (*notify.Delivery, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE notify_deliveries SET state = 'queued', next_at = ?, last_error = '', attempts_before = attempts
		WHERE id = ? AND state = 'failed' AND channel_id IN (SELECT id FROM notify_channels WHERE enabled = 1 AND deleted_at IS NULL)`, fmtTime(s.now()), id)
	if err != nil {
		return nil, fmt.Errorf("requeue delivery %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		d, err := s.Delivery(ctx, id)
		if err != nil {
			return nil, err
		}
		if d.State != notify.DeliveryFailed {
			return nil, rewind.Errorf(rewind.ECONFLICT, "This message is %s; only a failed one can be sent again.", d.State)
		}
		return nil, rewind.Errorf(rewind.ECONFLICT, "Its channel is off or removed; turn it on first.")
	}
	s.wakeMu.Lock()
	fn := s.onNotice
	s.wakeMu.Unlock()
	if fn != nil {
		fn()
	}
	return s.Delivery(ctx, id)
}

// SetEmail sets a user's own e-mail address ("" removes it).
func (s *Store) SetEmail(ctx context.Context, username, email string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET email = ? WHERE username = ?`, email, username)
	if err != nil {
		return fmt.Errorf("set e-mail of %s: %w", username, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return rewind.Errorf(rewind.ENOTFOUND, "User not found.")
	}
	return nil
}

// UserByID returns the user with that ID.
func (s *Store) UserByID(ctx context.Context, id int64) (*rewind.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("User", err)
	}
	return u, loadEnvRoles(ctx, s.db, u)
}

// PruneOutbox deletes what the outbox holds of events older than before
// whose deliveries have all ended (sent or failed): their attempts,
// deliveries and the events. It returns how many events went.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		const old = `SELECT e.id FROM notify_events e WHERE e.created_at < ? AND e.routed_at IS NOT NULL AND NOT EXISTS
			(SELECT 1 FROM notify_deliveries d WHERE d.event_id = e.id AND d.state IN ('queued', 'sending'))`
		at := fmtTime(before)
		if _, err := tx.ExecContext(ctx, `DELETE FROM notify_attempts WHERE delivery_id IN (SELECT id FROM notify_deliveries WHERE event_id IN (`+old+`))`, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM notify_deliveries WHERE event_id IN (`+old+`)`, at); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM notify_events WHERE id IN (`+old+`)`, at)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune the outbox: %w", err)
	}
	return n, nil
}
