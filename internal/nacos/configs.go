package nacos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

const defaultGroup = "DEFAULT_GROUP"

func (k ConfigKey) group() string {
	if k.Group == "" {
		return defaultGroup
	}
	return k.Group
}

// configItem is one entry of a config listing: v1's ConfigInfo or v3's ConfigBasicInfo.
type configItem struct {
	DataID       string          `json:"dataId"`
	Group        string          `json:"group"`
	GroupName    string          `json:"groupName"`
	Content      *string         `json:"content"`
	MD5          *string         `json:"md5"`
	Type         *string         `json:"type"`
	ModifyTime   json.RawMessage `json:"modifyTime"`
	LastModified json.RawMessage `json:"lastModified"`
}

// ListConfigs lists the configs of a namespace whose data ID contains search (all when
// search is empty; '*' is a wildcard). Listings from Nacos 1.x and 2.x carry the content
// but no modification time; listings from 3.x carry the md5 and modification time but no
// content.
func (c *Client) ListConfigs(ctx context.Context, namespace, search string) ([]Config, error) {
	op := "list configs of namespace " + strconv.Quote(namespace)
	pattern := search
	if pattern != "" && !strings.Contains(pattern, "*") {
		pattern = "*" + pattern + "*"
	}
	items, err := c.listConfigs(ctx, namespace, "", pattern, "blur")
	if err != nil {
		return nil, c.wrap(op, err)
	}
	out := make([]Config, 0, len(items))
	for _, it := range items {
		out = append(out, it.config(namespace))
	}
	return out, nil
}

func (it configItem) config(namespace string) Config {
	cfg := Config{Key: ConfigKey{Namespace: namespace, Group: it.Group, DataID: it.DataID}}
	if cfg.Key.Group == "" {
		cfg.Key.Group = it.GroupName
	}
	if it.Content != nil {
		cfg.Content = *it.Content
	}
	if it.MD5 != nil && *it.MD5 != "" {
		cfg.MD5 = *it.MD5
	} else if it.Content != nil {
		cfg.MD5 = ContentMD5(*it.Content)
	}
	if it.Type != nil {
		cfg.Type = *it.Type
	}
	for _, raw := range []json.RawMessage{it.ModifyTime, it.LastModified} {
		if t, err := parseTimeJSON(raw); err == nil && !t.IsZero() {
			cfg.Modified = t
			break
		}
	}
	return cfg
}

// listConfigs pages through a config listing: /v3/admin/cs/config/list on 3.x, else
// /v1/cs/configs?search=.
func (c *Client) listConfigs(ctx context.Context, namespace, group, dataID, search string) ([]configItem, error) {
	v, _, err := c.ensure(ctx)
	if err != nil {
		return nil, err
	}
	ns := normalizeNamespace(namespace)
	v3 := v.major >= 3
	var items []configItem
	for pageNo := 1; pageNo <= maxPages; pageNo++ {
		q := url.Values{"dataId": {dataID}, "pageNo": {strconv.Itoa(pageNo)}, "pageSize": {strconv.Itoa(c.pageSize)}, "search": {search}}
		path := "/v1/cs/configs"
		if v3 {
			path = "/v3/admin/cs/config/list"
			q.Set("groupName", group)
			q.Set("namespaceId", ns)
		} else {
			q.Set("group", group)
			q.Set("tenant", ns)
		}
		data, _, err := c.get(ctx, path, q)
		if err != nil {
			return nil, err
		}
		var p page[configItem]
		if v3 {
			err = decodeResult(data, &p)
		} else {
			err = decodeJSON(data, &p)
		}
		if err != nil {
			return nil, err
		}
		items = append(items, p.PageItems...)
		if len(p.PageItems) == 0 || pageNo >= p.PagesAvailable {
			break
		}
	}
	return items, nil
}

// Get reads a config as it is now; exists is false when there is no such config. Reads go
// through the SDK on Nacos 2.x and 3.x (which give the content only, so Type and Modified
// stay empty) and through the v1 HTTP API on 1.x.
func (c *Client) Get(ctx context.Context, key ConfigKey) (cfg Config, exists bool, err error) {
	op := "get config " + key.String()
	v, _, err := c.ensure(ctx)
	if err != nil {
		return Config{}, false, c.wrap(op, err)
	}
	if v.major < 2 {
		cfg, exists, err = c.getV1(ctx, key)
		if err != nil {
			return Config{}, false, c.wrap(op, err)
		}
		return cfg, exists, nil
	}
	cl, err := c.sdkClient(key.Namespace)
	if err != nil {
		return Config{}, false, c.wrap(op, err)
	}
	var content string
	for attempt := 1; ; attempt++ {
		if err := waitSDKRead(ctx, key); err != nil {
			return Config{}, false, c.wrap(op, err)
		}
		content, err = callSDK(ctx, inSeries(ctx, c, func() (string, error) {
			return cl.GetConfig(vo.ConfigParam{DataId: key.DataID, Group: key.group()})
		}))
		if err == nil {
			break
		}
		// The SDK's own reads may have used up its rate limit; it refills in a moment.
		if attempt == sdkReadAttempts || !sleep(ctx, sdkReadPause) {
			return Config{}, false, c.wrap(op, c.sdkFailure(ctx, err))
		}
	}
	// Nacos refuses empty content, so empty means the config does not exist.
	if content == "" {
		return Config{Key: key}, false, nil
	}
	return Config{Key: key, Content: content, MD5: ContentMD5(content)}, true, nil
}

const (
	sdkReadAttempts = 3
	sdkReadPause    = 250 * time.Millisecond
)

// sleep waits for d, or returns false when ctx is done first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// getV1 reads a config over GET /v1/cs/configs, which answers the raw content.
func (c *Client) getV1(ctx context.Context, key ConfigKey) (Config, bool, error) {
	q := url.Values{"dataId": {key.DataID}, "group": {key.group()}, "tenant": {normalizeNamespace(key.Namespace)}}
	data, header, err := c.get(ctx, "/v1/cs/configs", q)
	if hasStatus(err, http.StatusNotFound) {
		return Config{Key: key}, false, nil
	}
	if err != nil {
		return Config{}, false, err
	}
	content := string(data)
	cfg := Config{Key: key, Content: content, MD5: ContentMD5(content), Type: header.Get("Config-Type")}
	if t, err := http.ParseTime(header.Get("Last-Modified")); err == nil {
		cfg.Modified = t
	}
	return cfg, content != "", nil
}

// Publish writes a config's content, keeping its Nacos type. With casMd5 set it writes only if
// the config still has that md5 and returns ErrConflict otherwise (also when the config no
// longer exists). Empty content returns ErrEmptyContent without contacting the server. Read
// the config back with Get to confirm the new md5; that is also the way to learn the outcome
// when ctx ends while the write is in flight.
func (c *Client) Publish(ctx context.Context, key ConfigKey, content, casMd5 string) error {
	op := "publish config " + key.String()
	if content == "" {
		return c.wrap(op, ErrEmptyContent)
	}
	if err := c.publish(ctx, key, content, casMd5); err != nil {
		return c.wrap(op, err)
	}
	return nil
}

func (c *Client) publish(ctx context.Context, key ConfigKey, content, casMd5 string) error {
	v, _, err := c.ensure(ctx)
	if err != nil {
		return err
	}
	if v.major < 2 {
		return fmt.Errorf("%w: Nacos %s", ErrReadOnly, v.full)
	}
	if casMd5 != "" {
		// Nacos would insert a missing config even with casMd5 set; Rewind wants the config
		// it saw, so check first. The server's compare-and-swap still guards the write.
		if err := c.expectMD5(ctx, key, casMd5); err != nil {
			return err
		}
	}
	typ, err := c.configType(ctx, key)
	if err != nil {
		return err
	}
	if typ == "" {
		typ = DetectFormat("", content)
	}
	cl, err := c.sdkClient(key.Namespace)
	if err != nil {
		return err
	}
	ok, err := callSDK(ctx, inSeries(ctx, c, func() (bool, error) {
		return cl.PublishConfig(vo.ConfigParam{
			DataId: key.DataID, Group: key.group(), Content: content, CasMd5: casMd5,
			Type: typ, SrcUser: c.cfg.Username,
		})
	}))
	if err == nil && ok {
		return nil
	}
	if casMd5 != "" && ctx.Err() == nil {
		if cerr := c.expectMD5(ctx, key, casMd5); cerr != nil {
			return cerr
		}
	}
	return c.sdkFailure(ctx, err)
}

// expectMD5 returns ErrConflict unless the config exists with the given md5.
func (c *Client) expectMD5(ctx context.Context, key ConfigKey, md5 string) error {
	cur, exists, err := c.Get(ctx, key)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("%w: the config no longer exists", ErrConflict)
	}
	if cur.MD5 != md5 {
		return fmt.Errorf("%w: md5 is %s, expected %s", ErrConflict, cur.MD5, md5)
	}
	return nil
}

// configType looks up a config's Nacos type; "" when the config does not exist.
func (c *Client) configType(ctx context.Context, key ConfigKey) (string, error) {
	items, err := c.listConfigs(ctx, key.Namespace, key.group(), key.DataID, "accurate")
	if err != nil {
		return "", err
	}
	for _, it := range items {
		cfg := it.config(key.Namespace)
		if cfg.Key.DataID == key.DataID && cfg.Key.Group == key.group() {
			return cfg.Type, nil
		}
	}
	return "", nil
}

// Delete deletes a config. Deleting a config that does not exist succeeds, as in Nacos.
func (c *Client) Delete(ctx context.Context, key ConfigKey) error {
	op := "delete config " + key.String()
	v, _, err := c.ensure(ctx)
	if err != nil {
		return c.wrap(op, err)
	}
	if v.major < 2 {
		return c.wrap(op, fmt.Errorf("%w: Nacos %s", ErrReadOnly, v.full))
	}
	cl, err := c.sdkClient(key.Namespace)
	if err != nil {
		return c.wrap(op, err)
	}
	ok, err := callSDK(ctx, inSeries(ctx, c, func() (bool, error) {
		return cl.DeleteConfig(vo.ConfigParam{DataId: key.DataID, Group: key.group()})
	}))
	if err != nil || !ok {
		return c.wrap(op, c.sdkFailure(ctx, err))
	}
	return nil
}

// canListen says whether the server pushes changes (Nacos 2.x and 3.x, over gRPC).
func (c *Client) canListen(ctx context.Context) (bool, error) {
	v, _, err := c.ensure(ctx)
	if err != nil {
		return false, err
	}
	return v.major >= 2, nil
}

// listen asks the SDK to call changed whenever the server reports a change of key.
func (c *Client) listen(key ConfigKey, changed func()) error {
	cl, err := c.sdkClient(key.Namespace)
	if err != nil {
		return err
	}
	return guard(func() error {
		return cl.ListenConfig(vo.ConfigParam{
			DataId: key.DataID, Group: key.group(),
			OnChange: func(_, _, _, _ string) { changed() },
		})
	})
}

// stopListening undoes listen.
func (c *Client) stopListening(key ConfigKey) {
	c.sdkMu.Lock()
	cl, ok := c.sdk[normalizeNamespace(key.Namespace)]
	c.sdkMu.Unlock()
	if ok {
		_ = guard(func() error { return cl.CancelListenConfig(vo.ConfigParam{DataId: key.DataID, Group: key.group()}) })
	}
}

// parseTimeJSON reads a Nacos time from JSON: a number of epoch milliseconds or a string.
func parseTimeJSON(raw json.RawMessage) (time.Time, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return time.Time{}, nil
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return time.Time{}, err
		}
		return ParseTime(str)
	}
	return ParseTime(s)
}
