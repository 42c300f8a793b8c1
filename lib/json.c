/* json: see json.h. */
#include "json.h"

#include <string.h>

#define DEPTH_MAX 128

struct cursor {
	const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A string starting at the opening quote; leaves p after the closing one. */
static bool scan_string(struct cursor *c)
{
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p;
		if (ch == '"') {
			c->p++;
			return true;
		}
		if (ch < 0x20)
			return false;
		if (ch == '\\') {
			if (++c->p >= c->end)
				return false;
			switch (*c->p) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				c->p++;
				break;
			case 'u':
				if (c->end - c->p < 5)
					return false;
				for (int i = 1; i <= 4; i++)
					if (hex(c->p[i]) < 0)
						return false;
				c->p += 5;
				break;
			default:
				return false;
			}
			continue;
		}
		c->p++;
	}
	return false;
}

static bool digits(struct cursor *c)
{
	const char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > start;
}

static bool scan_number(struct cursor *c)
{
	if (*c->p == '-')
		c->p++;
	if (c->p >= c->end)
		return false;
	if (*c->p == '0')
		c->p++;
	else if (!digits(c))
		return false;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!digits(c))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!digits(c))
			return false;
	}
	return true;
}

static bool literal(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

static bool scan_value(struct cursor *c, int depth);

static bool scan_container(struct cursor *c, int depth, char close, bool object)
{
	if (depth > DEPTH_MAX)
		return false;
	c->p++;
	skip_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return true;
	}
	for (;;) {
		if (object) {
			if (c->p >= c->end || *c->p != '"' || !scan_string(c))
				return false;
			skip_ws(c);
			if (c->p >= c->end || *c->p++ != ':')
				return false;
			skip_ws(c);
		}
		if (!scan_value(c, depth + 1))
			return false;
		skip_ws(c);
		if (c->p >= c->end)
			return false;
		if (*c->p == ',') {
			c->p++;
			skip_ws(c);
			continue;
		}
		if (*c->p == close) {
			c->p++;
			return true;
		}
		return false;
	}
}

static bool scan_value(struct cursor *c, int depth)
{
	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '"': return scan_string(c);
	case '{': return scan_container(c, depth, '}', true);
	case '[': return scan_container(c, depth, ']', false);
	case 't': return literal(c, "true");
	case 'f': return literal(c, "false");
	case 'n': return literal(c, "null");
	default:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
			return scan_number(c);
		return false;
	}
}

int aigw_json_object(const char *text, size_t len, aigw_json_member_fn *fn, void *arg)
{
	struct cursor c = { text, text + len };
	int stopped = 0;

	skip_ws(&c);
	if (c.p >= c.end || *c.p != '{')
		return -1;
	c.p++;
	skip_ws(&c);
	if (c.p < c.end && *c.p == '}') {
		c.p++;
		goto tail;
	}
	for (;;) {
		struct aigw_json_member m;
		const char *k = c.p;
		if (c.p >= c.end || *c.p != '"' || !scan_string(&c))
			return -1;
		m.key = k + 1;
		m.key_len = (size_t)(c.p - k - 2);
		skip_ws(&c);
		if (c.p >= c.end || *c.p++ != ':')
			return -1;
		skip_ws(&c);
		m.value = c.p;
		if (!scan_value(&c, 1))
			return -1;
		m.value_len = (size_t)(c.p - m.value);
		/* Keep validating after a stop: an invalid body is refused
		 * whatever its first members said. */
		if (!stopped && fn)
			stopped = fn(&m, arg);
		skip_ws(&c);
		if (c.p >= c.end)
			return -1;
		if (*c.p == ',') {
			c.p++;
			skip_ws(&c);
			continue;
		}
		if (*c.p++ != '}')
			return -1;
		break;
	}
tail:
	skip_ws(&c);
	if (c.p != c.end)
		return -1;
	return stopped;
}

bool aigw_json_key_is(const struct aigw_json_member *m, const char *name)
{
	return strlen(name) == m->key_len && memcmp(m->key, name, m->key_len) == 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

bool aigw_json_string(const char *v, size_t len, char *out, size_t cap)
{
	const char *p, *end;
	size_t o = 0;

	if (len < 2 || v[0] != '"' || v[len - 1] != '"' || cap == 0)
		return false;
	p = v + 1;
	end = v + len - 1;
	while (p < end) {
		char tmp[4];
		size_t n = 1;
		if (*p != '\\') {
			tmp[0] = *p++;
		} else {
			p++;
			switch (*p) {
			case 'b': tmp[0] = '\b'; break;
			case 'f': tmp[0] = '\f'; break;
			case 'n': tmp[0] = '\n'; break;
			case 'r': tmp[0] = '\r'; break;
			case 't': tmp[0] = '\t'; break;
			case 'u': {
				uint32_t cp = 0;
				for (int i = 1; i <= 4; i++)
					cp = cp * 16 + (uint32_t)hex(p[i]);
				p += 4;
				if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 7 && p[1] == '\\' && p[2] == 'u') {
					uint32_t lo = 0;
					for (int i = 3; i <= 6; i++)
						lo = lo * 16 + (uint32_t)(hex(p[i]) < 0 ? 0 : hex(p[i]));
					if (lo >= 0xdc00 && lo < 0xe000) {
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
						p += 6;
					}
				}
				n = put_utf8(tmp, cp);
				break;
			}
			default: tmp[0] = *p; break;
			}
			p++;
		}
		if (o + n >= cap)
			return false;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return true;
}

bool aigw_json_uint(const char *v, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	*out = n;
	return true;
}

const char *aigw_json_kind(const cJSON *j)
{
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	return "null";
}

int aigw_json_parse_object(const char *text, size_t len, cJSON **out, struct aigw_err *err)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);

	if (!root) {
		size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		return aigw_err_set(err, AIGW_EINVAL, "invalid JSON at byte %zu", at + 1);
	}
	while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' ||
				    *end == '\r' || *end == '\0'))
		end++;
	if (end < text + len) {
		cJSON_Delete(root);
		return aigw_err_set(err, AIGW_EINVAL, "unexpected text after the JSON object");
	}
	if (!cJSON_IsObject(root)) {
		aigw_err_set(err, AIGW_EINVAL, "expected a JSON object, got %s", aigw_json_kind(root));
		cJSON_Delete(root);
		return AIGW_EINVAL;
	}
	*out = root;
	return 0;
}
