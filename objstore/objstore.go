// Package objstore is the S3 object store the archive publishes to and reads
// from: whole and ranged reads, a read-ahead ReaderAt, plain and multipart
// uploads, conditional writes, and a lease lock built on them.
//
// # Configuration
//
// New takes its configuration from the environment and the shared AWS files
// exactly as the AWS CLI and SDKs do (config.LoadDefaultConfig): AWS_REGION
// (else the profile's region, else us-east-1), AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY or AWS_PROFILE with ~/.aws/config and
// ~/.aws/credentials, and AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for an
// S3-compatible server. Path-style addressing (http://host/bucket/key) is
// used automatically when the endpoint's host is an IP address or localhost,
// since local servers have no per-bucket DNS names. Retries follow
// AWS_MAX_ATTEMPTS and AWS_RETRY_MODE (or the profile's max_attempts and
// retry_mode); with neither set, a request is tried up to 6 times, 100 ms
// to 1.6 s apart, with no per-process retry quota (see defaultRetryer).
//
// # Keys
//
// A Store is a bucket and a prefix; every key given to a Store is relative to
// the prefix ("v1/binance/BTCUSDT/..." under s3://bucket/prefix is the object
// prefix/v1/binance/BTCUSDT/...), so the layout is the same as on disk.
//
// # Conditional writes
//
// PutIfAbsent (If-None-Match: *) and PutIfMatch (If-Match: <etag>) are the
// only atomic steps S3 offers, and the archive's commit points use nothing
// else: a stream version's objects are uploaded under names no reader looks
// at, then one small object naming them is written last, create-if-absent
// for a first import and replace-if-unchanged for --force. A 412 answer is
// ErrExists or ErrChanged. Because the SDK retries a request whose response
// was lost, a 412 may answer our own earlier, successful attempt; so on a
// 412 the current object is read back, and if it holds exactly our bytes the
// write is reported as done.
//
// # Leases
//
// AcquireLease takes a lock object holding the owner and an expiry time. A
// free key is taken with PutIfAbsent; a lease whose expiry has passed (or
// that was released) is taken over with PutIfMatch on the ETag that was read,
// so of two takers of one expired lease exactly one wins. A holder must Renew
// before its lease runs out; Renew and Release are PutIfMatch on the ETag of
// the holder's own last write, so they fail with ErrLeaseLost once someone
// else has taken the lease over.
//
// Expiry is a wall-clock time written by the holder and read by other
// machines, so clocks matter: a taker treats a lease as expired only when its
// own clock is past the expiry plus Store.ClockSkew (DefaultClockSkew, 30 s,
// unless changed). A holder, for its part, counts its lease from the moment
// it sent the write and stops trusting it after ttl by its own monotonic
// clock (Lease.Valid). So the lease is safe as long as no two machines'
// clocks differ by more than ClockSkew; a lease held by a machine that died
// is free ttl+ClockSkew after its last renewal at the latest.
//
// Release marks the lock object free (expiry zero) rather than deleting it,
// because a delete conditional on an ETag is not supported everywhere; a
// free lock object is taken with PutIfMatch like an expired one.
package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Errors a caller tests with errors.Is. Every error returned by a Store is a
// *Error naming the bucket and key.
var (
	ErrNotFound = errors.New("no such object")
	ErrExists   = errors.New("object already exists")
	ErrChanged  = errors.New("object changed since it was read")
)

// Error is an operation on one object that failed.
type Error struct {
	Op     string // "get", "put-if-absent", ...
	Bucket string
	Key    string // the full key, prefix included
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("s3://%s/%s: %s: %v", e.Bucket, e.Key, e.Op, e.Err)
}

// Unwrap gives the cause, except that an io.EOF in it (a connection closed
// early: the SDK's error of a request cut before its answer, or io.ReadFull
// of a body cut before its first byte) is io.ErrUnexpectedEOF, so that no
// reader takes a failed read for the clean end of a file, stops early and
// exits 0 with part of the data.
func (e *Error) Unwrap() error {
	if errors.Is(e.Err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return e.Err
}

// Info describes a stored object.
type Info struct {
	Key  string // relative to the Store's prefix
	Size int64
	ETag string // as the server sent it, quotes included
}

// Store is one bucket and key prefix on an S3-compatible server. It is safe
// for concurrent use.
type Store struct {
	client *s3.Client
	bucket string
	prefix string // "" or ends in "/"

	// ClockSkew is how far another machine's clock may be ahead of ours:
	// a lease counts as expired only ClockSkew after its written expiry.
	ClockSkew time.Duration
	// PartSize is the size of a multipart upload's parts and the body size
	// above which Put uploads in parts; S3 wants at least 5 MiB.
	PartSize int64

	listPageSize int32 // 0: the server's default (1000); tests make it small
}

// DefaultClockSkew is the clock-skew allowance of a new Store's leases.
const DefaultClockSkew = 30 * time.Second

// DefaultPartSize keeps a 128 MiB segment to 16 parts and a Put's memory
// to uploadConcurrency parts.
const DefaultPartSize = 8 << 20

// ParseURL splits s3://bucket/prefix. The prefix has no leading or trailing
// slash and may be empty.
func ParseURL(s string) (bucket, prefix string, ok bool) {
	rest, found := strings.CutPrefix(s, "s3://")
	if !found {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" || strings.ContainsAny(bucket, "?#") {
		return "", "", false
	}
	return bucket, strings.Trim(prefix, "/"), true
}

// New opens a Store on bucket under prefix, configured from the environment
// as the AWS tools are (see the package doc). It does not contact the server.
func New(ctx context.Context, bucket, prefix string) (*Store, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: AWS configuration: %w", bucket, prefix, err)
	}
	if cfg.Region == "" {
		// As for S3 in the AWS CLI; local servers expect it, and a wrong
		// region on AWS is an error that names the right one.
		cfg.Region = "us-east-1"
	}
	if cfg.RetryMaxAttempts == 0 && cfg.RetryMode == "" {
		cfg.Retryer = defaultRetryer
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// Ranged GETs carry no whole-object checksum; the SDK would log
		// that it skipped checking one on every read.
		o.DisableLogOutputChecksumValidationSkipped = true
		if o.BaseEndpoint != nil && isLocalEndpoint(*o.BaseEndpoint) {
			o.UsePathStyle = true
		}
	})
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Store{client: client, bucket: bucket, prefix: prefix, ClockSkew: DefaultClockSkew, PartSize: DefaultPartSize}, nil
}

// Retries when the user sets none (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, a
// profile's max_attempts or retry_mode): the SDK's default, 3 attempts 50 and
// 100 ms apart, gives up on a server that restarts or a link that drops for
// a fraction of a second, and its retry quota (about 35 retries per process)
// fails every request of a long import once a flaky link has used it up.
// Every request Chronicle makes may be retried: plain puts of a version's
// files are idempotent, and conditional ones check a 412 against their own
// bytes.
const (
	retryAttempts   = 6
	retryBaseDelay  = 100 * time.Millisecond // then 200, 400, 800 ms, 1.6 s, with jitter
	retryMaxBackoff = 5 * time.Second
)

func defaultRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = retryAttempts
		o.BaseDelay = retryBaseDelay
		o.MaxBackoff = retryMaxBackoff
		o.RateLimiter = ratelimit.None
	})
}

// isLocalEndpoint reports whether the endpoint URL's host is an IP address or
// localhost, which cannot serve virtual-hosted bucket names.
func isLocalEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || net.ParseIP(h) != nil
}

// Bucket and Prefix name where the Store's keys live.
func (s *Store) Bucket() string { return s.bucket }
func (s *Store) Prefix() string { return strings.TrimSuffix(s.prefix, "/") }

func (s *Store) fail(op, key string, err error) error {
	var api smithy.APIError
	if statusOf(err) == 404 && !(errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket") {
		err = ErrNotFound
	}
	return &Error{Op: op, Bucket: s.bucket, Key: s.prefix + key, Err: err}
}

// statusOf is the HTTP status of a failed request, 0 if none came back.
func statusOf(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Stat returns the size and ETag of key.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return Info{}, s.fail("stat", key, err)
	}
	return Info{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag)}, nil
}

// Get reads the whole of key, with its ETag for a later PutIfMatch.
func (s *Store) Get(ctx context.Context, key string) ([]byte, Info, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return nil, Info{}, s.fail("get", key, err)
	}
	defer out.Body.Close()
	info := Info{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag)}
	if info.Size < 0 {
		return nil, Info{}, s.fail("get", key, errors.New("no Content-Length in the answer"))
	}
	b := make([]byte, info.Size)
	n, err := io.ReadFull(out.Body, b)
	if err != nil && info.ETag != "" && ctx.Err() == nil {
		// Cut mid-body: fetch the rest of the same version.
		var m int
		m, err = s.readRange(ctx, key, info.ETag, int64(n), b[n:])
		n += m
	}
	if err == nil && n < len(b) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, Info{}, s.fail("get", key, fmt.Errorf("body cut at %d of %d bytes: %w", n, info.Size, err))
	}
	return b, info, nil
}

// GetRange reads n bytes of key from offset off. Fewer than n bytes come back
// only where the object ends; an offset at or past the end is an error.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b := make([]byte, n)
	got, err := s.readRange(ctx, key, "", off, b)
	return b[:got], err
}

// bodyRetries is how often a read resumes after its body was cut. The SDK
// retries a request that failed before its answer began, not one whose body
// broke off.
const bodyRetries = 3

// readRange fills p from off; with etag set, only from that version of the
// object (ErrChanged otherwise). It returns fewer bytes only at the object's end.
func (s *Store) readRange(ctx context.Context, key, etag string, off int64, p []byte) (int, error) {
	n, _, err := s.readRangeVersion(ctx, key, etag, off, p)
	return n, err
}

// version is what a ranged GET's answer says of the object it came from.
type version struct {
	etag string
	size int64 // the whole object's, from Content-Range; -1 if not given
}

// readRangeVersion is readRange that also returns the version read: with
// etag "", that of the first answer, to which a resumed read is pinned so
// that a cut body is never completed from another version.
func (s *Store) readRangeVersion(ctx context.Context, key, etag string, off int64, p []byte) (int, version, error) {
	n := 0
	v := version{etag: etag, size: -1}
	for try := 0; ; try++ {
		m, got, cut, err := s.readRangeOnce(ctx, key, v.etag, off+int64(n), p[n:])
		n += m
		if v.etag == "" {
			v.etag = got.etag
		}
		if v.size < 0 {
			v.size = got.size
		}
		if err == nil || !cut || try == bodyRetries || ctx.Err() != nil {
			return n, v, err
		}
	}
}

// readRangeOnce is one ranged GET; cut says the error came from a body that
// broke off, which is worth resuming.
func (s *Store) readRangeOnce(ctx context.Context, key, etag string, off int64, p []byte) (n int, v version, cut bool, err error) {
	v.size = -1
	if len(p) == 0 {
		return 0, v, false, nil
	}
	in := &s3.GetObjectInput{
		Bucket: &s.bucket,
		Key:    aws.String(s.prefix + key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1)),
	}
	if etag != "" {
		in.IfMatch = &etag
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if statusOf(err) == 412 {
			err = ErrChanged
		}
		return 0, v, false, s.fail("get-range", key, fmt.Errorf("offset %d: %w", off, err))
	}
	defer out.Body.Close()
	v.etag = aws.ToString(out.ETag)
	if cr := aws.ToString(out.ContentRange); cr != "" { // "bytes 0-63/1234"
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if total, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				v.size = total
			}
		}
	}
	want := aws.ToInt64(out.ContentLength)
	if want < 0 || want > int64(len(p)) {
		return 0, v, false, s.fail("get-range", key, fmt.Errorf("offset %d: answer of %d bytes for a range of %d", off, want, len(p)))
	}
	n, err = io.ReadFull(out.Body, p[:want])
	if err != nil {
		return n, v, true, s.fail("get-range", key, fmt.Errorf("offset %d: body cut at %d of %d bytes: %w", off, n, want, err))
	}
	return n, v, false, nil
}

// List returns every object whose key starts with prefix (relative to the
// Store's prefix), in key order, following the server's pages.
func (s *Store) List(ctx context.Context, prefix string) ([]Info, error) {
	var infos []Info
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if s.listPageSize > 0 {
		in.MaxKeys = &s.listPageSize
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.fail("list", prefix, err)
		}
		for _, o := range page.Contents {
			infos = append(infos, Info{
				Key:  strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
				Size: aws.ToInt64(o.Size),
				ETag: aws.ToString(o.ETag),
			})
		}
	}
	return infos, nil
}

// Delete removes key; a key that is already gone is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil && statusOf(err) != 404 {
		return s.fail("delete", key, err)
	}
	return nil
}

// DeleteIfMatch removes key if its ETag is still etag (ErrChanged
// otherwise); a key that is already gone is not an error. AWS S3 and
// versitygw honour If-Match on DELETE; a server that ignores it deletes
// unconditionally, so only use this where a lost race is harmless or the
// server is known.
func (s *Store) DeleteIfMatch(ctx context.Context, key, etag string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key), IfMatch: &etag})
	switch st := statusOf(err); {
	case err == nil || st == 404:
		return nil
	case st == 412:
		err = ErrChanged
	}
	return s.fail("delete-if-match", key, err)
}

// PutIfAbsent creates key with body unless it exists (ErrExists), and
// returns the new object's ETag.
func (s *Store) PutIfAbsent(ctx context.Context, key string, body []byte) (string, error) {
	return s.putSmall(ctx, "put-if-absent", key, body, &s3.PutObjectInput{IfNoneMatch: aws.String("*")}, ErrExists)
}

// PutIfMatch replaces key with body if its ETag is still etag (ErrChanged
// otherwise, also when key is gone), and returns the new ETag.
func (s *Store) PutIfMatch(ctx context.Context, key string, body []byte, etag string) (string, error) {
	return s.putSmall(ctx, "put-if-match", key, body, &s3.PutObjectInput{IfMatch: &etag}, ErrChanged)
}

func (s *Store) putSmall(ctx context.Context, op, key string, body []byte, in *s3.PutObjectInput, conflict error) (string, error) {
	in.Bucket, in.Key = &s.bucket, aws.String(s.prefix+key)
	in.Body, in.ContentLength = bytes.NewReader(body), aws.Int64(int64(len(body)))
	out, err := s.client.PutObject(ctx, in)
	if err == nil {
		return aws.ToString(out.ETag), nil
	}
	st := statusOf(err)
	if st == 412 || (st == 404 && in.IfMatch != nil) {
		// The answer to an earlier attempt of this same call may have been
		// lost after the server stored it; then the object is ours.
		cur, info, gerr := s.Get(ctx, key)
		switch {
		case gerr == nil && bytes.Equal(cur, body):
			return info.ETag, nil
		case gerr == nil || errors.Is(gerr, ErrNotFound):
			err = conflict
		default: // neither ErrExists nor success: we cannot tell
			err = fmt.Errorf("precondition failed, and reading the object back to see whether an earlier attempt of ours wrote it failed: %w", gerr)
		}
	}
	return "", s.fail(op, key, err)
}

// Put stores size bytes from body under key, replacing what was there.
// Bodies larger than PartSize go up as a multipart upload holding at most
// uploadConcurrency parts in memory; a failed upload is aborted and leaves
// key as it was. Fewer or more bytes than size is an error.
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if size < 0 {
		return s.fail("put", key, fmt.Errorf("negative size %d", size))
	}
	if size <= s.PartSize {
		b := make([]byte, size)
		if _, err := io.ReadFull(body, b); err != nil {
			return s.fail("put", key, fmt.Errorf("reading the body: %w", err))
		}
		if err := checkEOF(body); err != nil {
			return s.fail("put", key, err)
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.bucket, Key: aws.String(s.prefix + key),
			Body: bytes.NewReader(b), ContentLength: aws.Int64(size),
		})
		if err != nil {
			return s.fail("put", key, err)
		}
		return nil
	}
	return s.putMultipart(ctx, key, body, size)
}

// checkEOF fails if body has more bytes than it was said to have.
func checkEOF(body io.Reader) error {
	var one [1]byte
	if n, _ := io.ReadFull(body, one[:]); n > 0 {
		return errors.New("the body is longer than its stated size")
	}
	return nil
}

// uploadConcurrency parts are in flight at once: enough to keep a link busy
// while the next part is read, few enough to bound memory.
const uploadConcurrency = 2

func (s *Store) putMultipart(ctx context.Context, key string, body io.Reader, size int64) error {
	fullKey := aws.String(s.prefix + key)
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: fullKey})
	if err != nil {
		return s.fail("put", key, err)
	}
	uploadID := created.UploadId
	abort := func(err error) error {
		// Best effort: a part left behind by a failed abort is never read
		// as an object and expires with the bucket's lifecycle rules.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: fullKey, UploadId: uploadID})
		return s.fail("put", key, err)
	}

	nparts := int((size + s.PartSize - 1) / s.PartSize)
	parts := make([]types.CompletedPart, nparts)
	type result struct {
		buf []byte
		err error
	}
	done := make(chan result, uploadConcurrency)
	inFlight := 0
	var firstErr error
	for i := 0; i < nparts; i++ {
		var buf []byte
		if i < uploadConcurrency {
			buf = make([]byte, s.PartSize)
		} else {
			// Reuse the buffer of the next part to finish: memory stays
			// at uploadConcurrency parts whatever the object's size.
			r := <-done
			inFlight--
			if buf, firstErr = r.buf, r.err; firstErr != nil {
				break
			}
		}
		n := min(s.PartSize, size-int64(i)*s.PartSize)
		if _, err := io.ReadFull(body, buf[:n]); err != nil {
			firstErr = fmt.Errorf("reading the body at offset %d: %w", int64(i)*s.PartSize, err)
			break
		}
		inFlight++
		go func(i int, buf []byte) {
			out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &s.bucket, Key: fullKey, UploadId: uploadID,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(buf), ContentLength: aws.Int64(int64(len(buf))),
			})
			if err == nil {
				parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag}
			} else {
				err = fmt.Errorf("part %d: %w", i+1, err)
			}
			done <- result{buf[:cap(buf)], err}
		}(i, buf[:n])
	}
	for ; inFlight > 0; inFlight-- {
		if r := <-done; r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	if firstErr == nil {
		firstErr = checkEOF(body)
	}
	if firstErr != nil {
		return abort(firstErr)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: fullKey, UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return abort(err)
	}
	return nil
}

// ListDir lists one level below prefix (relative to the Store's prefix,
// normally ending in "/"): the objects directly in it and the names of the
// "directories" (common prefixes up to the next "/") below it, each without
// prefix and without a trailing slash, in key order. It is how a
// file-system view of the bucket lists a directory without listing every
// key beneath it.
func (s *Store) ListDir(ctx context.Context, prefix string) (files []Info, dirs []string, err error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix), Delimiter: aws.String("/")}
	if s.listPageSize > 0 {
		in.MaxKeys = &s.listPageSize
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, s.fail("list", prefix, err)
		}
		for _, o := range page.Contents {
			files = append(files, Info{
				Key:  strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
				Size: aws.ToInt64(o.Size),
				ETag: aws.ToString(o.ETag),
			})
		}
		for _, cp := range page.CommonPrefixes {
			d := strings.TrimPrefix(aws.ToString(cp.Prefix), s.prefix+prefix)
			if d = strings.TrimSuffix(d, "/"); d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	return files, dirs, nil
}
