package sqlchange

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
)

// maxMismatches caps the mismatches a VerifyReport lists.
const maxMismatches = 100

// VerifyReport says whether a rollback brought the rows back.
type VerifyReport struct {
	// Checked rows were compared; Matched of them are as they should be.
	Checked, Matched int
	// Mismatches lists the first 100 rows that differ; MoreMismatches
	// counts the rest.
	Mismatches     []Mismatch
	MoreMismatches int
}

// Mismatch is one row that is not as the saved rows say it should be.
type Mismatch struct {
	Statement int    // 0-based index of the statement the row was saved for
	Table     string // schema.table
	Key       string // e.g. id=5, code='a'
	Problem   string // e.g. row is missing; column price: want '1.50', got '2.00'
}

// OK says all checked rows match.
func (r *VerifyReport) OK() bool { return r.Matched == r.Checked }

// String sums the report up in one line.
func (r *VerifyReport) String() string {
	if r.OK() {
		return fmt.Sprintf("%d rows match", r.Matched)
	}
	n := r.Checked - r.Matched
	parts := make([]string, 0, len(r.Mismatches))
	for _, m := range r.Mismatches {
		parts = append(parts, fmt.Sprintf("%s (%s): %s", m.Table, m.Key, m.Problem))
	}
	s := fmt.Sprintf("%d of %d rows match; %d mismatches: %s", r.Matched, r.Checked, n, strings.Join(parts, "; "))
	if r.MoreMismatches > 0 {
		s += fmt.Sprintf("; and %d more", r.MoreMismatches)
	}
	return s
}

func (r *VerifyReport) add(m Mismatch) {
	if len(r.Mismatches) < maxMismatches {
		r.Mismatches = append(r.Mismatches, m)
	} else {
		r.MoreMismatches++
	}
}

// Verify re-reads, by primary key, the rows of a change's saved rows after
// its generated rollback ran and compares them with what they were before
// the change: rows saved before an UPDATE or DELETE must equal the saved
// rows, rows an INSERT added must be gone. When several statements touched
// one row, the state before the first of them counts.
func (d *DB) Verify(ctx context.Context, saved []SavedRows) (*VerifyReport, error) {
	conn, err := d.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	order := make([]int, len(saved))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return saved[order[a]].Statement < saved[order[b]].Statement })

	report := &VerifyReport{}
	claimed := map[string]bool{}
	for _, k := range order {
		s := &saved[k]
		idx, err := s.keyIndex()
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		var own []Row
		for _, r := range s.Rows {
			key := s.Table.String() + "\x00" + keyText(d.engine, s.Columns, idx, r)
			if !claimed[key] {
				claimed[key] = true
				own = append(own, r)
			}
		}
		m := &tableMeta{}
		for _, c := range s.Columns {
			if d.engine == MySQL && columnClass(d.engine, c.Type) == classTimestamp {
				m.hasTS = true
			}
		}
		for start := 0; start < len(own); start += rowBatch {
			batch := own[start:min(start+rowBatch, len(own))]
			err := d.withPinnedSession(ctx, conn, m, false, func() error {
				return d.verifyBatch(ctx, conn, s, idx, batch, report)
			})
			if err != nil {
				return nil, fmt.Errorf("verify rows of %s: %w", s.Table, err)
			}
		}
	}
	return report, nil
}

func (d *DB) verifyBatch(ctx context.Context, q queryer, s *SavedRows, idx []int, batch []Row, report *VerifyReport) error {
	query := "SELECT " + selectList(d.engine, s.Columns) + " FROM " + quoteTable(d.engine, s.Table) +
		" WHERE " + keyCondition(d.engine, s.Columns, idx, batch)
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	found := map[string]Row{}
	cls := classes(d.engine, s.Columns)
	dest := make([]any, len(s.Columns))
	ptrs := make([]any, len(s.Columns))
	for k := range dest {
		ptrs[k] = &dest[k]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make(Row, len(s.Columns))
		for k := range s.Columns {
			row[k] = canonical(d.engine, cls[k], dest[k])
		}
		found[keyText(d.engine, s.Columns, idx, row)] = row
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, want := range batch {
		key := keyText(d.engine, s.Columns, idx, want)
		got, present := found[key]
		report.Checked++
		mismatch := Mismatch{Statement: s.Statement, Table: s.Table.String(), Key: key}
		switch {
		case s.Kind == KindInsert && present:
			mismatch.Problem = fmt.Sprintf("row added by statement %d is still there", s.Statement+1)
		case s.Kind == KindInsert:
			report.Matched++
			continue
		case !present:
			mismatch.Problem = "row is missing"
		default:
			var diffs []string
			for k, c := range s.Columns {
				if !sameValue(want[k], got[k]) {
					diffs = append(diffs, fmt.Sprintf("column %s: want %s, got %s", c.Name,
						capText(literal(d.engine, c, want[k]), maxCellRunes), capText(literal(d.engine, c, got[k]), maxCellRunes)))
				}
			}
			if len(diffs) == 0 {
				report.Matched++
				continue
			}
			mismatch.Problem = strings.Join(diffs, "; ")
		}
		report.add(mismatch)
	}
	return nil
}

// keyText shows a row's key as "a=1, b='x'".
func keyText(engine Engine, cols []Column, idx []int, r Row) string {
	parts := make([]string, len(idx))
	for i, j := range idx {
		parts[i] = cols[j].Name + "=" + literal(engine, cols[j], r[j])
	}
	return strings.Join(parts, ", ")
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
	}
	return false
}
