package nacostest

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// page is Nacos' Page: {totalCount, pageNumber, pagesAvailable, pageItems}.
type page struct {
	TotalCount     int   `json:"totalCount"`
	PageNumber     int   `json:"pageNumber"`
	PagesAvailable int   `json:"pagesAvailable"`
	PageItems      []any `json:"pageItems"`
}

// result is the {code, message, data} wrapper of the v2 and v3 APIs.
type result struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func success(data any) result { return result{Code: 0, Message: "success", Data: data} }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rest, found := strings.CutPrefix(r.URL.Path, s.opts.ContextPath)
	if !found {
		http.NotFound(w, r)
		return
	}
	s.count("http:" + r.Method + " " + rest)
	if s.currentFailure() == Garbage {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
		return
	}
	_ = r.ParseForm()
	mode := s.opts.Mode
	switch rest {
	case "/v1/auth/login", "/v1/auth/users/login":
		s.login(w, r)
	case "/v3/auth/user/login":
		if mode != Mode3 {
			http.NotFound(w, r)
			return
		}
		s.login(w, r)
	case "/v1/console/server/state":
		if mode == Mode3 {
			gone(w)
			return
		}
		writeJSON(w, http.StatusOK, s.state())
	case "/v3/admin/core/state":
		if mode != Mode3 {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, success(s.state()))
	case "/v1/cs/configs", "/v1/cs/history":
		if mode == Mode3 {
			gone(w)
			return
		}
		if !s.authorized(w, r) {
			return
		}
		if rest == "/v1/cs/configs" {
			s.v1Configs(w, r)
		} else {
			s.v1History(w, r)
		}
	case "/v2/cs/history/list", "/v2/cs/history":
		if mode == Mode3 {
			gone(w)
			return
		}
		if mode == Mode1 || !s.minorAtLeast(2, 2) {
			http.NotFound(w, r)
			return
		}
		if !s.authorized(w, r) {
			return
		}
		s.v2History(w, r, rest == "/v2/cs/history/list")
	case "/v3/admin/cs/history/list", "/v3/admin/cs/history", "/v3/admin/cs/config/list":
		if mode != Mode3 {
			http.NotFound(w, r)
			return
		}
		if !s.authorized(w, r) {
			return
		}
		switch rest {
		case "/v3/admin/cs/config/list":
			s.v3ConfigList(w, r)
		default:
			s.v3History(w, r, rest == "/v3/admin/cs/history/list")
		}
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func gone(w http.ResponseWriter) {
	writeJSON(w, http.StatusGone, result{Code: 410, Message: "api is deprecated, please use the v3 admin api", Data: nil})
}

func (s *Server) state() map[string]any {
	return map[string]any{
		"version":         s.opts.Version,
		"standalone_mode": "standalone",
		"function_mode":   nil,
		"auth_enabled":    "true",
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	refused := s.failure == RefuseLogin ||
		r.Form.Get("username") != s.opts.Username || r.Form.Get("password") != s.opts.Password
	var tok string
	if !refused {
		tok = s.newTokenLocked()
	}
	s.mu.Unlock()
	if refused {
		http.Error(w, "unknown user!", http.StatusForbidden)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"accessToken": tok, "tokenTtl": 18000, "globalAdmin": true, "username": s.opts.Username,
	})
}

// authorized checks the access token, taken as Nacos does from the Authorization header, the
// accessToken header or the accessToken parameter, and answers 403 without a valid one.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok := ""
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		tok = bearer
	}
	if tok == "" {
		tok = r.Header.Get("accessToken")
	}
	if tok == "" {
		tok = r.Form.Get("accessToken")
	}
	if s.validToken(tok) {
		return true
	}
	writeJSON(w, http.StatusForbidden, map[string]any{
		"timestamp": time.Now().Format("2006-01-02T15:04:05.000-07:00"),
		"status":    403, "error": "Forbidden", "message": "token invalid!",
		"path": r.URL.Path,
	})
	return false
}

// paging reads pageNo and pageSize like Nacos: defaults 1 and def, size capped.
func (s *Server) paging(r *http.Request, def int) (pageNo, pageSize int) {
	pageNo, _ = strconv.Atoi(r.Form.Get("pageNo"))
	pageSize, _ = strconv.Atoi(r.Form.Get("pageSize"))
	if pageNo <= 0 {
		pageNo = 1
	}
	if pageSize <= 0 {
		pageSize = def
	}
	return pageNo, min(pageSize, s.opts.MaxPageSize)
}

func makePage[T any](items []T, pageNo, pageSize int, conv func(T) any) page {
	p := page{TotalCount: len(items), PageNumber: pageNo, PageItems: []any{}}
	p.PagesAvailable = (len(items) + pageSize - 1) / pageSize
	start := (pageNo - 1) * pageSize
	for i := start; i < len(items) && i < start+pageSize; i++ {
		p.PageItems = append(p.PageItems, conv(items[i]))
	}
	return p
}

// blurMatch matches like Nacos' blur search: '*' is a wildcard, an empty pattern matches all.
func blurMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

type keyedConfig struct {
	key Key
	c   config
}

func (s *Server) findConfigs(namespace, group, dataID string, blur bool) []keyedConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.normKey(Key{Namespace: namespace}).Namespace
	var out []keyedConfig
	for k, c := range s.configs {
		if k.Namespace != ns {
			continue
		}
		if blur {
			if !blurMatch(group, k.Group) || !blurMatch(dataID, k.DataID) {
				continue
			}
		} else if k.Group != group || k.DataID != dataID {
			continue
		}
		out = append(out, keyedConfig{k, *c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].c.id < out[j].c.id })
	return out
}

// v1Configs answers GET /v1/cs/configs: a page of configs with search=blur|accurate, else
// one config's raw content.
func (s *Server) v1Configs(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.Form
	if search := q.Get("search"); search != "" {
		pageNo, pageSize := s.paging(r, 100)
		found := s.findConfigs(q.Get("tenant"), q.Get("group"), q.Get("dataId"), search == "blur")
		writeJSON(w, http.StatusOK, makePage(found, pageNo, pageSize, func(kc keyedConfig) any {
			// Nacos 2.x lists config_info rows without md5.
			return map[string]any{
				"id": strconv.FormatInt(kc.c.id, 10), "dataId": kc.key.DataID, "group": kc.key.Group,
				"content": kc.c.content, "md5": nil, "encryptedDataKey": "", "tenant": kc.key.Namespace,
				"appName": kc.c.appName, "type": kc.c.typ,
			}
		}))
		return
	}
	if q.Get("dataId") == "" {
		http.Error(w, "Required parameter 'dataId' is not present", http.StatusBadRequest)
		return
	}
	found := s.findConfigs(q.Get("tenant"), orDefaultGroup(q.Get("group")), q.Get("dataId"), false)
	if len(found) == 0 {
		http.Error(w, "config data not exist", http.StatusNotFound)
		return
	}
	c := found[0].c
	w.Header().Set("Config-Type", c.typ)
	w.Header().Set("Content-MD5", c.md5)
	w.Header().Set("Last-Modified", c.modified.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	_, _ = w.Write([]byte(c.content))
}

func orDefaultGroup(g string) string {
	if g == "" {
		return "DEFAULT_GROUP"
	}
	return g
}

// historyFor returns the formal history rows of a config, newest first.
func (s *Server) historyFor(k Key) []HistoryRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rows []HistoryRow
	for _, r := range s.historyLocked(s.normKey(k)) {
		rows = append(rows, *r)
	}
	return rows
}

func (s *Server) historyRow(k Key, nid int64) (HistoryRow, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k = s.normKey(k)
	for _, r := range s.history {
		if r.ID == nid && r.Key == k {
			return *r, true
		}
	}
	return HistoryRow{}, false
}

// padOp pads an operation type the way Nacos' CHAR(10) column returns it.
func padOp(op string) string {
	return op + strings.Repeat(" ", 10-len(op))
}

func (s *Server) fmtTime(t time.Time, api string) any {
	f := s.opts.TimeFormat
	if f == TimeDefault {
		f = TimeISONoColon
		if api == "v2" {
			f = TimeISO
		}
	}
	switch f {
	case TimeMillis:
		return t.UnixMilli()
	case TimeISO:
		return t.Format("2006-01-02T15:04:05.000-07:00")
	case TimeISONoColon:
		return t.Format("2006-01-02T15:04:05.000-0700")
	default:
		return t.Local().Format("2006-01-02 15:04:05")
	}
}

// historyInfo renders a row as Nacos' ConfigHistoryInfo; lists leave out md5 and content.
func (s *Server) historyInfo(r HistoryRow, api string, detail bool) map[string]any {
	var id any = strconv.FormatInt(r.ID, 10)
	if s.opts.Mode == Mode1 {
		id = r.ID
	}
	m := map[string]any{
		"id": id, "lastId": -1, "dataId": r.Key.DataID, "group": r.Key.Group, "tenant": r.Key.Namespace,
		"appName": "", "md5": nil, "content": nil, "srcIp": r.SrcIP, "srcUser": r.SrcUser,
		"opType": padOp(r.Op), "createdTime": s.fmtTime(r.At, api), "lastModifiedTime": s.fmtTime(r.At, api),
	}
	if detail {
		m["md5"], m["content"] = r.MD5, r.Content
	}
	return m
}

func (s *Server) v1History(w http.ResponseWriter, r *http.Request) {
	q := r.Form
	key := Key{q.Get("tenant"), q.Get("group"), q.Get("dataId")}
	if q.Get("search") == "accurate" {
		if key.DataID == "" || key.Group == "" {
			http.Error(w, "Required parameter 'dataId' or 'group' is not present", http.StatusBadRequest)
			return
		}
		pageNo, pageSize := s.paging(r, 100)
		s.count("history-page")
		writeJSON(w, http.StatusOK, makePage(s.formal(s.historyFor(key)), pageNo, pageSize, func(h HistoryRow) any {
			return s.historyInfo(h, "v1", false)
		}))
		return
	}
	nid, err := strconv.ParseInt(q.Get("nid"), 10, 64)
	if err != nil {
		http.Error(w, "Required parameter 'nid' is not present", http.StatusBadRequest)
		return
	}
	row, found := s.historyRow(key, nid)
	if !found {
		http.Error(w, "history not found", http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, s.historyInfo(row, "v1", true))
}

// formal drops gray release rows, which the v1 and v2 APIs of older servers never had.
func (s *Server) formal(rows []HistoryRow) []HistoryRow {
	var out []HistoryRow
	for _, r := range rows {
		if r.PublishType != "gray" {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) v2History(w http.ResponseWriter, r *http.Request, list bool) {
	q := r.Form
	key := Key{q.Get("namespaceId"), q.Get("group"), q.Get("dataId")}
	if key.DataID == "" || key.Group == "" {
		writeJSON(w, http.StatusBadRequest, result{Code: 10000, Message: "parameter missing", Data: "dataId and group are required"})
		return
	}
	if list {
		pageNo, pageSize := s.paging(r, 100)
		s.count("history-page")
		writeJSON(w, http.StatusOK, success(makePage(s.formal(s.historyFor(key)), pageNo, pageSize, func(h HistoryRow) any {
			return s.historyInfo(h, "v2", false)
		})))
		return
	}
	nid, err := strconv.ParseInt(q.Get("nid"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, result{Code: 10000, Message: "parameter missing", Data: "nid is required"})
		return
	}
	row, found := s.historyRow(key, nid)
	if !found {
		writeJSON(w, http.StatusNotFound, result{Code: 20004, Message: "resource not found", Data: "certain config history for nid = " + q.Get("nid") + " not exist"})
		return
	}
	writeJSON(w, http.StatusOK, success(s.historyInfo(row, "v2", true)))
}

// v3HistoryInfo renders a row as ConfigHistoryBasicInfo, or ConfigHistoryDetailInfo.
func (s *Server) v3HistoryInfo(r HistoryRow, detail bool) map[string]any {
	m := map[string]any{
		"id": strconv.FormatInt(r.ID, 10), "namespaceId": r.Key.Namespace, "groupName": r.Key.Group,
		"dataId": r.Key.DataID, "md5": nil, "type": nil, "appName": "",
		"createTime": r.At.UnixMilli(), "modifyTime": r.At.UnixMilli(),
		"srcIp": r.SrcIP, "srcUser": r.SrcUser, "opType": padOp(r.Op), "publishType": r.PublishType,
	}
	if detail {
		m["md5"], m["content"], m["encryptedDataKey"], m["grayName"], m["extInfo"], m["schema"] =
			r.MD5, r.Content, "", nil, nil, nil
	}
	return m
}

func (s *Server) v3History(w http.ResponseWriter, r *http.Request, list bool) {
	q := r.Form
	key := Key{q.Get("namespaceId"), q.Get("groupName"), q.Get("dataId")}
	if key.DataID == "" || key.Group == "" {
		writeJSON(w, http.StatusBadRequest, result{Code: 10000, Message: "parameter missing", Data: "dataId and groupName are required"})
		return
	}
	if list {
		pageNo, pageSize := s.paging(r, 100)
		s.count("history-page")
		writeJSON(w, http.StatusOK, success(makePage(s.historyFor(key), pageNo, pageSize, func(h HistoryRow) any {
			return s.v3HistoryInfo(h, false)
		})))
		return
	}
	nid, err := strconv.ParseInt(q.Get("nid"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, result{Code: 10000, Message: "parameter missing", Data: "nid is required"})
		return
	}
	row, found := s.historyRow(key, nid)
	if !found {
		writeJSON(w, http.StatusNotFound, result{Code: 20004, Message: "resource not found", Data: "certain config history for nid = " + q.Get("nid") + " not exist"})
		return
	}
	writeJSON(w, http.StatusOK, success(s.v3HistoryInfo(row, true)))
}

func (s *Server) v3ConfigList(w http.ResponseWriter, r *http.Request) {
	q := r.Form
	search := q.Get("search")
	if search == "" {
		search = "blur"
	}
	pageNo, pageSize := s.paging(r, 100)
	found := s.findConfigs(q.Get("namespaceId"), q.Get("groupName"), q.Get("dataId"), search == "blur")
	writeJSON(w, http.StatusOK, success(makePage(found, pageNo, pageSize, func(kc keyedConfig) any {
		return map[string]any{
			"id": strconv.FormatInt(kc.c.id, 10), "namespaceId": kc.key.Namespace, "groupName": kc.key.Group,
			"dataId": kc.key.DataID, "md5": kc.c.md5, "type": kc.c.typ, "appName": kc.c.appName,
			"createTime": kc.c.created.UnixMilli(), "modifyTime": kc.c.modified.UnixMilli(),
		}
	})))
}
