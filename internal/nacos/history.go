package nacos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// HistoryRow is one row of Nacos' config history as Nacos stores it: a U row holds the
// content BEFORE that update; I and D rows hold the inserted or deleted content.
type HistoryRow struct {
	// ID is Nacos' history id (nid).
	ID string
	// Op is "I", "U" or "D"; Nacos pads it with spaces, which is allowed here.
	Op string
	// Content is the row's content with the meaning above.
	Content string
	// At is when the operation happened.
	At time.Time
	// Operator and SourceIP say who made the change and from where, when known.
	Operator, SourceIP string
}

// Versions turns history rows, newest first, and the config's current state into versions,
// newest first, each with the content the config really had after that operation:
//   - after an I, the inserted content (the row's own);
//   - after a U, the content of the next newer row (a U's before-image or a D's deleted
//     content), or the current content for the newest row;
//   - after a D, nothing: Content and MD5 are empty.
//
// A U whose after-content cannot be known (the newest row while the config does not exist,
// or a U followed by an I, which means history is missing rows) is left out, as are rows
// with an unknown operation.
func Versions(key ConfigKey, rows []HistoryRow, current string, exists bool) []Version {
	out := make([]Version, 0, len(rows))
	for i, r := range rows {
		op := strings.ToUpper(strings.TrimSpace(r.Op))
		var content string
		switch op {
		case OpInsert:
			content = r.Content
		case OpUpdate:
			if i == 0 {
				if !exists {
					continue
				}
				content = current
				break
			}
			switch strings.ToUpper(strings.TrimSpace(rows[i-1].Op)) {
			case OpUpdate, OpDelete:
				content = rows[i-1].Content
			default:
				continue
			}
		case OpDelete:
			content = ""
		default:
			continue
		}
		out = append(out, Version{
			Key: key, Content: content, MD5: ContentMD5(content), At: r.At,
			Operator: r.Operator, SourceIP: r.SourceIP, Op: op,
			Sources: []string{SourceImported}, HistoryID: r.ID,
		})
	}
	return out
}

// ParseTime reads the times Nacos writes: epoch milliseconds ("1704179045000"),
// "2024-01-02T15:04:05.000+08:00", "2024-01-02T15:04:05.000+0800", and "2024-01-02 15:04:05"
// (without a zone, read in the local time zone, which is the server's in the usual setup).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: time %q", ErrUnexpectedAnswer, s)
}

// historyAPI is one of Nacos' history APIs.
type historyAPI int

const (
	historyV1 historyAPI = iota + 1 // /v1/cs/history, Nacos 1.x and 2.x
	historyV2                       // /v2/cs/history, Nacos 2.2 and later 2.x
	historyV3                       // /v3/admin/cs/history, Nacos 3.x
)

// historyAPIs lists the history APIs to try, best first; the next one is tried when a server
// answers 404 or 410.
func historyAPIs(v serverVersion) []historyAPI {
	switch {
	case v.major >= 3:
		return []historyAPI{historyV3, historyV2, historyV1}
	case v.major == 2 && v.minor >= 2:
		return []historyAPI{historyV2, historyV1}
	default:
		return []historyAPI{historyV1}
	}
}

// historyItem is one entry of a history answer: ConfigHistoryInfo (v1, v2) or
// ConfigHistoryBasicInfo / ConfigHistoryDetailInfo (v3). Lists have no content.
type historyItem struct {
	ID               flexString      `json:"id"`
	Content          *string         `json:"content"`
	SrcIP            string          `json:"srcIp"`
	SrcUser          string          `json:"srcUser"`
	OpType           string          `json:"opType"`
	PublishType      string          `json:"publishType"`
	CreatedTime      json.RawMessage `json:"createdTime"`
	LastModifiedTime json.RawMessage `json:"lastModifiedTime"`
	CreateTime       json.RawMessage `json:"createTime"`
	ModifyTime       json.RawMessage `json:"modifyTime"`
}

// at is the operation time: the modification time, else the creation time.
func (it historyItem) at() (time.Time, error) {
	for _, raw := range []json.RawMessage{it.LastModifiedTime, it.ModifyTime, it.CreatedTime, it.CreateTime} {
		t, err := parseTimeJSON(raw)
		if err != nil {
			return time.Time{}, err
		}
		if !t.IsZero() {
			return t, nil
		}
	}
	return time.Time{}, nil
}

// History reads a config's whole Nacos history, every page of it, and returns its versions
// newest first with the content each really had (see Versions). Gray releases are left out.
func (c *Client) History(ctx context.Context, key ConfigKey) ([]Version, error) {
	op := "history of config " + key.String()
	vs, err := c.history(ctx, key)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	return vs, nil
}

func (c *Client) history(ctx context.Context, key ConfigKey) ([]Version, error) {
	v, _, err := c.ensure(ctx)
	if err != nil {
		return nil, err
	}
	var (
		api     historyAPI
		items   []historyItem
		current Config
		exists  bool
	)
	// The newest U row's after-content is the current content, so the current content must be
	// read with no change in between: read history, then the config, then check that the
	// newest history row is still the newest.
	for attempt := 0; ; attempt++ {
		api, items, err = c.historyItems(ctx, v, key, 0)
		if err != nil {
			return nil, err
		}
		if current, exists, err = c.Get(ctx, key); err != nil {
			return nil, err
		}
		_, head, err := c.historyItems(ctx, v, key, 1)
		if err != nil {
			return nil, err
		}
		if newestID(head) == newestID(items) || attempt == 2 {
			break
		}
	}
	rows, err := c.historyRows(ctx, api, key, items)
	if err != nil {
		return nil, err
	}
	return Versions(key, rows, current.Content, exists), nil
}

func newestID(items []historyItem) string {
	if len(items) == 0 {
		return ""
	}
	return string(items[0].ID)
}

// historyItems lists a config's formal history rows, newest first, without duplicates; with
// maxRows > 0 only the first page, of at most maxRows.
func (c *Client) historyItems(ctx context.Context, v serverVersion, key ConfigKey, maxRows int) (historyAPI, []historyItem, error) {
	apis := historyAPIs(v)
	var lastErr error
	for _, api := range apis {
		items, err := c.listHistory(ctx, api, key, maxRows)
		if missingAPI(err) {
			lastErr = err
			continue
		}
		return api, items, err
	}
	return 0, nil, lastErr
}

func (c *Client) listHistory(ctx context.Context, api historyAPI, key ConfigKey, maxRows int) ([]historyItem, error) {
	pageSize := c.pageSize
	if maxRows > 0 {
		pageSize = maxRows
	}
	seen := map[flexString]bool{}
	var items []historyItem
	for pageNo := 1; pageNo <= maxPages; pageNo++ {
		path, q := historyQuery(api, key)
		if api == historyV1 {
			q.Set("search", "accurate")
		}
		q.Set("pageNo", strconv.Itoa(pageNo))
		q.Set("pageSize", strconv.Itoa(pageSize))
		if api != historyV1 {
			path += "/list"
		}
		data, _, err := c.get(ctx, path, q)
		if err != nil {
			return nil, err
		}
		var p page[historyItem]
		if api == historyV1 {
			err = decodeJSON(data, &p)
		} else {
			err = decodeResult(data, &p)
		}
		if err != nil {
			return nil, err
		}
		for _, it := range p.PageItems {
			// Rows added while paging shift later pages; skip the repeats.
			if seen[it.ID] {
				continue
			}
			seen[it.ID] = true
			if pt := strings.TrimSpace(it.PublishType); pt != "" && !strings.EqualFold(pt, "formal") {
				continue
			}
			items = append(items, it)
		}
		if maxRows > 0 || len(p.PageItems) == 0 || pageNo >= p.PagesAvailable {
			break
		}
	}
	sortNewestFirst(items)
	return items, nil
}

// sortNewestFirst orders rows by numeric id, newest first, as Nacos does.
func sortNewestFirst(items []historyItem) {
	sort.SliceStable(items, func(i, j int) bool {
		a, errA := strconv.ParseInt(string(items[i].ID), 10, 64)
		b, errB := strconv.ParseInt(string(items[j].ID), 10, 64)
		if errA != nil || errB != nil {
			return false
		}
		return a > b
	})
}

// historyQuery returns the path and key parameters of a history API.
func historyQuery(api historyAPI, key ConfigKey) (string, url.Values) {
	ns := normalizeNamespace(key.Namespace)
	switch api {
	case historyV3:
		return "/v3/admin/cs/history", url.Values{"dataId": {key.DataID}, "groupName": {key.group()}, "namespaceId": {ns}}
	case historyV2:
		return "/v2/cs/history", url.Values{"dataId": {key.DataID}, "group": {key.group()}, "namespaceId": {ns}}
	default:
		return "/v1/cs/history", url.Values{"dataId": {key.DataID}, "group": {key.group()}, "tenant": {ns}}
	}
}

// historyRows reads the content of each listed row (listings leave it out) and returns the
// rows newest first.
func (c *Client) historyRows(ctx context.Context, api historyAPI, key ConfigKey, items []historyItem) ([]HistoryRow, error) {
	rows := make([]HistoryRow, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(detailWorkers)
	for i, it := range items {
		at, err := it.at()
		if err != nil {
			return nil, err
		}
		rows[i] = HistoryRow{ID: string(it.ID), Op: it.OpType, At: at, Operator: it.SrcUser, SourceIP: it.SrcIP}
		if it.Content != nil {
			rows[i].Content = *it.Content
			continue
		}
		g.Go(func() error {
			content, err := c.historyContent(gctx, api, key, string(it.ID))
			if err != nil {
				return fmt.Errorf("history entry %s: %w", it.ID, err)
			}
			rows[i].Content = content
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return rows, nil
}

// historyContent reads one history entry's content by its id (nid).
func (c *Client) historyContent(ctx context.Context, api historyAPI, key ConfigKey, id string) (string, error) {
	path, q := historyQuery(api, key)
	q.Set("nid", id)
	data, _, err := c.get(ctx, path, q)
	if err != nil {
		return "", err
	}
	var it historyItem
	if api == historyV1 {
		err = decodeJSON(data, &it)
	} else {
		err = decodeResult(data, &it)
	}
	if err != nil {
		return "", err
	}
	if it.Content == nil {
		return "", fmt.Errorf("%w: history entry %s has no content", ErrUnexpectedAnswer, id)
	}
	return *it.Content, nil
}

// HistoryEntry reads one history entry's stored content by its id (a Version's HistoryID).
// For a U entry this is the content before that update.
func (c *Client) HistoryEntry(ctx context.Context, key ConfigKey, id string) (string, error) {
	op := "history entry " + id + " of config " + key.String()
	v, _, err := c.ensure(ctx)
	if err != nil {
		return "", c.wrap(op, err)
	}
	var lastErr error
	for _, api := range historyAPIs(v) {
		content, err := c.historyContent(ctx, api, key, id)
		if missingAPI(err) {
			lastErr = err
			continue
		}
		if err != nil {
			return "", c.wrap(op, err)
		}
		return content, nil
	}
	return "", c.wrap(op, lastErr)
}
