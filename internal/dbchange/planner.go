package dbchange

import (
	"context"
	"fmt"

	"github.com/rewindhq/rewind/internal/rewind"
)

// PlanStep plans undoing the SQL change that made version g.To of database
// t with its generated rollback SQL (from the saved rows). It checks that
// the change stayed applied, was not rolled back already and has no open
// rollback, and that the database answers; it runs nothing on it. It
// implements rewind.Planner.
func (s *Service) PlanStep(ctx context.Context, t *rewind.Target, g rewind.Goal) (*rewind.StepPlan, error) {
	to := g.To
	p := &rewind.StepPlan{To: to}
	ex, err := s.store.SQLExecution(ctx, to.ID)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		p.Step = rewind.Step{TargetID: t.ID, Detail: fmt.Sprintf("undo version %d of %s", to.Number, t.Name)}
		p.Blocked = fmt.Sprintf("Rewind has no record of how version %d of %s ran, so it cannot undo it; undo it by hand.", to.Number, t.Name)
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plan rollback of version %d: %w", to.Number, err)
	}
	p.Rows = ex.SavedRows
	sql := rewind.SQLRequest{Kind: rewind.SQLKindRollback, SQL: ex.RollbackSQL, OfVersion: to.ID, Generated: true}
	what := "change"
	if ex.Kind == rewind.SQLKindRollback {
		what = "rollback"
	}
	p.Step = rewind.Step{TargetID: t.ID, Detail: fmt.Sprintf("undo SQL %s version %d of %s with its generated rollback SQL (%s)", what, to.Number, t.Name, count(ex.SavedRows, "saved row"))}
	rbs, err := s.store.SQLRollbacksOf(ctx, t.ID, to.ID)
	if err != nil {
		return nil, err
	}
	for _, rb := range rbs {
		for _, st := range rb.Steps {
			if q, err := rewind.ParseSQLRequest(st.Payload); err != nil || st.TargetID != t.ID || q.OfVersion != to.ID {
				continue
			}
			switch {
			case st.State == rewind.StepSucceeded:
				p.AlreadyThere = true
				p.Warnings = append(p.Warnings, fmt.Sprintf("Already rolled back by request #%d.", rb.ID))
				return p, nil
			case rb.State == rewind.StatePending || rb.State == rewind.StateApproved || rb.State == rewind.StateRunning:
				p.Blocked = fmt.Sprintf("Request #%d, %s, already rolls this change back.", rb.ID, rb.State)
				p.OpenRequest = rb.ID
			}
		}
	}
	switch {
	case !ex.Applied:
		p.AlreadyThere = true
		p.Warnings = append(p.Warnings, "No statement of this change stayed applied: nothing to undo.")
		return p, nil
	case ex.RollbackSQL == "":
		p.Blocked = "Rewind generated no rollback SQL for this change. " + ex.RollbackNote + " Type the rollback SQL for this step."
		p.NeedsSQL = true
	}
	if sql.SQL != "" {
		if p.Step.Payload, err = sql.Encode(); err != nil {
			return nil, err
		}
	}
	d, err := s.store.Database(ctx, t.OwnerID)
	if rewind.ErrorCode(err) == rewind.ENOTFOUND {
		p.Blocked = "Database " + t.Name + " is no longer registered in Rewind."
		p.Checks = append(p.Checks, rewind.Check{Name: "reachable", Message: p.Blocked})
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.State(ctx, d); err != nil {
		p.Checks = append(p.Checks, rewind.Check{Name: "reachable", Message: rewind.ErrorMessage(err)})
		if p.Blocked == "" {
			p.Blocked = rewind.ErrorMessage(err)
		}
	} else {
		p.Checks = append(p.Checks, rewind.Check{Name: "reachable", OK: true, Message: "Database " + d.Name + " answers."})
	}
	p.Checks = append(p.Checks, rewind.Check{Name: "saved rows", OK: ex.SavedRows > 0 || ex.RollbackSQL != "",
		Message: count(ex.SavedRows, "row") + " saved before the change ran; the rollback restores them and checks them afterwards."})
	return p, nil
}

// WithSQL returns the step of plan p with rollback SQL the requester typed
// instead of the generated one.
func WithSQL(p *rewind.StepPlan, sql string) (rewind.Step, error) {
	q := rewind.SQLRequest{Kind: rewind.SQLKindRollback, SQL: sql, OfVersion: p.To.ID}
	if err := q.Validate(); err != nil {
		return rewind.Step{}, err
	}
	payload, err := q.Encode()
	if err != nil {
		return rewind.Step{}, err
	}
	st := p.Step
	st.Payload = payload
	st.Detail = fmt.Sprintf("undo SQL change version %d with rollback SQL typed by the requester", p.To.Number)
	return st, nil
}

var _ rewind.Planner = (*Service)(nil)
