/* One pass that writes a prediction's model input: numeric columns imputed, cast and scaled, and Arrow text
 * columns one-hot encoded through small hash tables, row block by row block.
 *
 * Optional: plan_fused.py uses it when it was compiled and falls back to numpy otherwise. The arithmetic is
 * the numpy path's, operation for operation (float64 fill, cast to float32, subtract, multiply, no fused
 * multiply-add), so both give the same bits; tests/test_predict_fast.py runs every case through both.
 * Every offset read from an Arrow buffer is bounds-checked: a malformed array raises ValueError, and the
 * caller then takes the numpy path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "float arithmetic must not use excess precision (the numbers must equal numpy's)"
#endif

#define BLOCK 1024

typedef struct {
    uint64_t head, tail;
    int64_t len;
} Key;

typedef struct {
    Py_buffer view;
    Py_ssize_t col;
    int has_fill;
    double fill;
    float center, inv;
    char kind; /* 'd' float64, 'f' float32, 'q' int64, 'i' int32 */
} Numeric;

typedef struct {
    /* static: the vocabulary's hash table (built by plan_fused.native_tables) */
    const int32_t *slots;
    uint64_t mask;
    int shift;
    const char *vocab;
    Py_ssize_t vocab_len;
    const int64_t *vocab_offsets;
    const int32_t *vocab_cols;
    const uint8_t *vocab_unseen;
    Py_ssize_t vocab_count;
    Key *keys; /* per vocabulary text, made per call */
    Py_ssize_t missing_col, absent_col;
    int missing_unseen, absent_unseen;
    /* per call: one Arrow string or large_string array */
    Py_buffer offsets, data, validity;
    int has_validity, wide;
    Py_ssize_t arr_offset;
    Py_ssize_t unseen;
} Group;

/* A short text (category values are) as its length and first and last 8 bytes: for up to 16 bytes these
 * identify it, so most comparisons are two integer compares; longer texts are compared in full. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LITTLE_ENDIAN_LOADS 0
#else
#define LITTLE_ENDIAN_LOADS 1
#endif

/* ``limit``: the end of the buffer holding ``s``; where 8 bytes can be read, one masked load replaces a byte
 * loop whose varying length the branch predictor cannot follow. */
static Key text_key(const unsigned char *s, Py_ssize_t len, const unsigned char *limit) {
    Key k = {0, 0, len};
    if (LITTLE_ENDIAN_LOADS && limit - s >= 8) {
        uint64_t word;
        memcpy(&word, s, 8);
        k.head = word & (len >= 8 ? ~0ULL : ((1ULL << (8 * len)) - 1));
    } else {
        for (Py_ssize_t i = 0; i < len && i < 8; i++) k.head |= (uint64_t)s[i] << (8 * i);
    }
    const unsigned char *last = s + (len >= 8 ? len - 8 : 0);
    uint64_t tail = 0;
    if (limit - last >= 8) memcpy(&tail, last, 8);
    k.tail = len >= 8 ? tail : 0; /* selected without a branch on the length */
    return k;
}

/* Table slots come from the product's high bits (Fibonacci hashing): two multiplies, no dependent chain. */
static uint64_t key_hash(Key k, Py_ssize_t len) {
    return (k.head ^ (uint64_t)len) * 0x9E3779B97F4A7C15ULL + k.tail * 0xBF58476D1CE4E5B9ULL;
}

static uint64_t text_hash(const unsigned char *s, Py_ssize_t len) { return key_hash(text_key(s, len, s + len), len); }

static Py_ssize_t lookup(const Group *g, const char *s, Py_ssize_t len, const char *limit) {
    Key k = text_key((const unsigned char *)s, len, (const unsigned char *)limit);
    uint64_t slot = key_hash(k, len) >> g->shift;
    for (;;) {
        int32_t v = g->slots[slot];
        if (v < 0) return -1;
        const Key *e = &g->keys[v];
        /* one branch for the key (bitwise &), a full compare only for texts over 16 bytes */
        if (((e->len == k.len) & (e->head == k.head) & (e->tail == k.tail)) &&
            (len <= 16 || memcmp(g->vocab + g->vocab_offsets[v], s, (size_t)len) == 0))
            return v;
        slot = (slot + 1) & g->mask;
    }
}

static const void *bytes_of(PyObject *obj, Py_ssize_t need) {
    if (!PyBytes_Check(obj) || PyBytes_GET_SIZE(obj) < need) {
        PyErr_SetString(PyExc_ValueError, "fastprep: malformed table");
        return NULL;
    }
    return PyBytes_AS_STRING(obj);
}

static int parse_numeric(PyObject *array, PyObject *spec, Numeric *num, Py_ssize_t n, Py_ssize_t width) {
    double center, inv;
    if (!PyArg_ParseTuple(spec, "niddd", &num->col, &num->has_fill, &num->fill, &center, &inv)) return -1;
    num->center = (float)center;
    num->inv = (float)inv;
    if (PyObject_GetBuffer(array, &num->view, PyBUF_RECORDS_RO) < 0) return -1;
    const char *fmt = num->view.format ? num->view.format : "B";
    if (*fmt == '<' || *fmt == '=' || *fmt == '@') fmt++;
    char c = fmt[0];
    Py_ssize_t size = num->view.itemsize;
    if (c == 'd' && size == 8) num->kind = 'd';
    else if (c == 'f' && size == 4) num->kind = 'f';
    else if ((c == 'q' || c == 'l') && size == 8) num->kind = 'q';
    else if ((c == 'i' || c == 'l') && size == 4) num->kind = 'i';
    else num->kind = 0;
    if (!num->kind || num->view.ndim != 1 || num->view.shape[0] != n || num->col < 0 || num->col >= width) {
        PyBuffer_Release(&num->view);
        PyErr_SetString(PyExc_ValueError, "fastprep: unsupported numeric column");
        return -1;
    }
    return 0;
}

static int parse_group_inner(PyObject *spec, PyObject *text, Group *g, Py_ssize_t n, Py_ssize_t width);

/* Reads one encoded column's tables and Arrow buffers; on failure nothing stays held. */
static int parse_group(PyObject *spec, PyObject *text, Group *g, Py_ssize_t n, Py_ssize_t width) {
    if (parse_group_inner(spec, text, g, n, width) == 0) return 0;
    PyMem_Free(g->keys);
    g->keys = NULL;
    return -1;
}

static int parse_group_inner(PyObject *spec, PyObject *text, Group *g, Py_ssize_t n, Py_ssize_t width) {
    PyObject *slots, *vocab, *voffsets, *vcols, *vunseen, *offsets, *data, *validity;
    unsigned long long mask;
    memset(g, 0, sizeof(*g));
    if (!PyArg_ParseTuple(spec, "OKOOOOnini", &slots, &mask, &vocab, &voffsets, &vcols, &vunseen,
                          &g->missing_col, &g->missing_unseen, &g->absent_col, &g->absent_unseen))
        return -1;
    if (!PyArg_ParseTuple(text, "OOOin", &offsets, &data, &validity, &g->wide, &g->arr_offset)) return -1;
    g->mask = mask;
    g->shift = 64;
    for (uint64_t m = mask; m; m >>= 1) g->shift--;
    g->vocab_count = PyBytes_Check(vcols) ? PyBytes_GET_SIZE(vcols) / 4 : 0;
    if (!(g->slots = bytes_of(slots, (Py_ssize_t)(mask + 1) * 4))) return -1;
    if (!(g->vocab_offsets = bytes_of(voffsets, (g->vocab_count + 1) * 8))) return -1;
    if (!(g->vocab_cols = bytes_of(vcols, g->vocab_count * 4))) return -1;
    if (!(g->vocab_unseen = bytes_of(vunseen, g->vocab_count))) return -1;
    if (!(g->vocab = bytes_of(vocab, 0))) return -1;
    g->vocab_len = PyBytes_GET_SIZE(vocab);
    for (Py_ssize_t i = 0; i <= g->vocab_count; i++) {
        if (g->vocab_offsets[i] < 0 || g->vocab_offsets[i] > g->vocab_len ||
            (i && g->vocab_offsets[i] < g->vocab_offsets[i - 1])) {
            PyErr_SetString(PyExc_ValueError, "fastprep: malformed vocabulary");
            return -1;
        }
    }
    if (g->vocab_count) {
        g->keys = PyMem_Malloc((size_t)g->vocab_count * sizeof(Key));
        if (!g->keys) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < g->vocab_count; i++)
            g->keys[i] = text_key((const unsigned char *)g->vocab + g->vocab_offsets[i],
                                  (Py_ssize_t)(g->vocab_offsets[i + 1] - g->vocab_offsets[i]),
                                  (const unsigned char *)g->vocab + g->vocab_len);
    }
    uint64_t empty = 0;
    for (uint64_t i = 0; i <= mask; i++) {
        if (g->slots[i] >= g->vocab_count) {
            PyErr_SetString(PyExc_ValueError, "fastprep: malformed hash table");
            return -1;
        }
        empty += g->slots[i] < 0;
    }
    if (!empty) { /* a probe must always reach an empty slot */
        PyErr_SetString(PyExc_ValueError, "fastprep: full hash table");
        return -1;
    }
    for (Py_ssize_t i = 0; i < g->vocab_count; i++) {
        if (g->vocab_cols[i] >= width) {
            PyErr_SetString(PyExc_ValueError, "fastprep: malformed column map");
            return -1;
        }
    }
    if (g->missing_col >= width || g->absent_col >= width || g->arr_offset < 0 || (g->wide != 0 && g->wide != 1)) {
        PyErr_SetString(PyExc_ValueError, "fastprep: malformed text column");
        return -1;
    }
    if (PyObject_GetBuffer(offsets, &g->offsets, PyBUF_SIMPLE) < 0) return -1;
    if (PyObject_GetBuffer(data, &g->data, PyBUF_SIMPLE) < 0) goto fail_offsets;
    if (validity != Py_None) {
        if (PyObject_GetBuffer(validity, &g->validity, PyBUF_SIMPLE) < 0) goto fail_data;
        g->has_validity = 1;
    }
    Py_ssize_t end = g->arr_offset + n; /* rows read: arr_offset .. end - 1; offsets up to index end */
    if (g->offsets.len < (end + 1) * (g->wide ? 8 : 4) || (g->has_validity && g->validity.len * 8 < end)) {
        PyErr_SetString(PyExc_ValueError, "fastprep: text column shorter than the table");
        goto fail_all;
    }
    return 0;
fail_all:
    if (g->has_validity) PyBuffer_Release(&g->validity);
fail_data:
    PyBuffer_Release(&g->data);
fail_offsets:
    PyBuffer_Release(&g->offsets);
    return -1;
}

static void release_group(Group *g) {
    PyMem_Free(g->keys);
    PyBuffer_Release(&g->offsets);
    PyBuffer_Release(&g->data);
    if (g->has_validity) PyBuffer_Release(&g->validity);
}

/* Returns 0, or -1 when an Arrow offset points outside its data buffer. */
static int fill_block(float *out, Py_ssize_t width, Py_ssize_t r0, Py_ssize_t r1, Numeric *nums, Py_ssize_t n_nums,
                      Group *groups, Py_ssize_t n_groups, int *finite) {
    memset(out + r0 * width, 0, (size_t)((r1 - r0) * width) * sizeof(float));
    for (Py_ssize_t k = 0; k < n_nums; k++) {
        const Numeric *num = &nums[k];
        float *dst = out + num->col;
        const char *src = (const char *)num->view.buf;
        Py_ssize_t step = num->view.strides[0];
        int ok = 1;
#define NUMERIC_LOOP(T)                                                                                          \
    for (Py_ssize_t r = r0; r < r1; r++) {                                                                     \
        double v = (double)*(const T *)(src + r * step);                                                       \
        if (num->has_fill && !isfinite(v)) v = num->fill;                                                      \
        float x = (float)v;                                                                                    \
        x = x - num->center;                                                                                   \
        x = x * num->inv;                                                                                      \
        ok &= isfinite(x) != 0;                                                                                \
        dst[r * width] = x;                                                                                    \
    }
        switch (num->kind) {
        case 'd': NUMERIC_LOOP(double) break;
        case 'f': NUMERIC_LOOP(float) break;
        case 'q': NUMERIC_LOOP(int64_t) break;
        default: NUMERIC_LOOP(int32_t) break;
        }
#undef NUMERIC_LOOP
        if (!ok) *finite = 0;
    }
    for (Py_ssize_t k = 0; k < n_groups; k++) {
        Group *g = &groups[k];
        const uint8_t *bits = g->has_validity ? (const uint8_t *)g->validity.buf : NULL;
        const char *data = (const char *)g->data.buf;
        for (Py_ssize_t r = r0; r < r1; r++) {
            Py_ssize_t i = g->arr_offset + r, col;
            int unseen;
            if (bits && !((bits[i >> 3] >> (i & 7)) & 1)) {
                col = g->missing_col;
                unseen = g->missing_unseen;
            } else {
                int64_t a, b;
                if (g->wide) {
                    a = ((const int64_t *)g->offsets.buf)[i];
                    b = ((const int64_t *)g->offsets.buf)[i + 1];
                } else {
                    a = ((const int32_t *)g->offsets.buf)[i];
                    b = ((const int32_t *)g->offsets.buf)[i + 1];
                }
                if (a < 0 || b < a || b > g->data.len) return -1;
                Py_ssize_t v = lookup(g, data + a, (Py_ssize_t)(b - a), data + g->data.len);
                if (v >= 0) {
                    col = g->vocab_cols[v];
                    unseen = g->vocab_unseen[v];
                } else {
                    col = g->absent_col;
                    unseen = g->absent_unseen;
                }
            }
            g->unseen += unseen;
            if (col >= 0) out[r * width + col] = 1.0f;
        }
    }
    return 0;
}

static PyObject *fill(PyObject *self, PyObject *args) {
    PyObject *out_obj, *num_arrays, *num_specs, *group_specs, *texts;
    if (!PyArg_ParseTuple(args, "OO!O!O!O!", &out_obj, &PyList_Type, &num_arrays, &PyTuple_Type, &num_specs,
                          &PyTuple_Type, &group_specs, &PyTuple_Type, &texts))
        return NULL;
    Py_buffer out;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND) < 0)
        return NULL;
    PyObject *result = NULL;
    Numeric *nums = NULL;
    Group *groups = NULL;
    Py_ssize_t n_nums = PyTuple_GET_SIZE(num_specs), n_groups = PyTuple_GET_SIZE(group_specs);
    Py_ssize_t got_nums = 0, got_groups = 0;
    if (out.ndim != 2 || strcmp(out.format, "f") != 0 || PyTuple_GET_SIZE(texts) != n_groups ||
        PyList_GET_SIZE(num_arrays) != n_nums) {
        PyErr_SetString(PyExc_ValueError, "fastprep: out must be a C-contiguous float32 matrix");
        goto done;
    }
    Py_ssize_t n = out.shape[0], width = out.shape[1];
    nums = PyMem_Calloc(n_nums ? n_nums : 1, sizeof(Numeric));
    groups = PyMem_Calloc(n_groups ? n_groups : 1, sizeof(Group));
    if (!nums || !groups) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got_nums < n_nums; got_nums++)
        if (parse_numeric(PyList_GET_ITEM(num_arrays, got_nums), PyTuple_GET_ITEM(num_specs, got_nums),
                          &nums[got_nums], n, width) < 0)
            goto done;
    for (; got_groups < n_groups; got_groups++)
        if (parse_group(PyTuple_GET_ITEM(group_specs, got_groups), PyTuple_GET_ITEM(texts, got_groups),
                        &groups[got_groups], n, width) < 0)
            goto done;
    int finite = 1, bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r0 = 0; r0 < n && !bad; r0 += BLOCK) {
        Py_ssize_t r1 = r0 + BLOCK < n ? r0 + BLOCK : n;
        bad = fill_block((float *)out.buf, width, r0, r1, nums, n_nums, groups, n_groups, &finite);
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "fastprep: an Arrow offset points outside its data");
        goto done;
    }
    PyObject *counts = PyTuple_New(n_groups);
    if (!counts) goto done;
    for (Py_ssize_t k = 0; k < n_groups; k++) PyTuple_SET_ITEM(counts, k, PyLong_FromSsize_t(groups[k].unseen));
    result = Py_BuildValue("(ON)", finite ? Py_True : Py_False, counts);
done:
    for (Py_ssize_t k = 0; k < got_nums; k++) PyBuffer_Release(&nums[k].view);
    for (Py_ssize_t k = 0; k < got_groups; k++) release_group(&groups[k]);
    PyMem_Free(nums);
    PyMem_Free(groups);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *hash(PyObject *self, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "bytes expected");
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(text_hash((const unsigned char *)PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg)));
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS,
     "fill(out, arrays, numerics, groups, texts) -> (all_finite, unseen_counts): write one model input."},
    {"hash", hash, METH_O, "hash(bytes) -> int: the hash the lookup tables are built with."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastprep", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastprep(void) { return PyModule_Create(&module); }
