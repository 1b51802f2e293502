// Graph builder: inferred shapes for every op kind, and a clear error (naming the op)
// for every kind of bad input.
#include "graph/graph.h"

#include <gtest/gtest.h>

#include <vector>

namespace nm {
namespace {

using Ne = std::array<int64_t, 4>;

Ne ne_of(const Graph& g, NodeId id) { return g.node(id).t.ne; }

// Expects the builder call to have failed with a message naming `op`.
void expect_error(const Graph& g, NodeId id, const char* op) {
  EXPECT_EQ(id, kInvalidNode);
  ASSERT_FALSE(g.status().ok());
  EXPECT_EQ(g.status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(g.status().message().rfind(std::string(op) + ":", 0), 0u) << g.status().message();
}

struct WeightStore {  // backing memory for weight() leaves
  std::vector<float> buf = std::vector<float>(1 << 16, 0.0f);
  Tensor t(DType type, Ne ne) { return Tensor::make(type, ne, buf.data()); }
};

TEST(GraphShapes, LeavesAndViews) {
  Graph g;
  WeightStore ws;
  NodeId x = g.input(DType::F32, {8, 6, 2, 1}, "x");
  NodeId w = g.weight(ws.t(DType::F32, {8, 4, 1, 1}), "w");
  EXPECT_EQ(g.node(w).t.data, ws.buf.data());
  EXPECT_EQ(ne_of(g, g.reshape(x, {16, 3, 2, 1})), (Ne{16, 3, 2, 1}));
  NodeId p = g.permute(x, {2, 0, 1, 3});  // dim0 -> 2, dim1 -> 0, dim2 -> 1
  EXPECT_EQ(ne_of(g, p), (Ne{6, 2, 8, 1}));
  EXPECT_EQ(g.node(p).t.nb[2], 4u);
  EXPECT_EQ(g.node(p).t.nb[0], 32u);
  NodeId t = g.transpose(x);
  EXPECT_EQ(ne_of(g, t), (Ne{6, 8, 2, 1}));
  EXPECT_EQ(g.node(t).t.nb[0], 32u);
  EXPECT_EQ(g.node(t).t.nb[1], 4u);
  NodeId v = g.view(x, {4, 6, 1, 1}, {4, 32, 192, 192}, 16);
  EXPECT_EQ(g.node(v).storage, x);
  EXPECT_EQ(g.node(v).storage_offset, 16u);
  NodeId vv = g.view(g.reshape(x, {96, 1, 1, 1}), {8, 1, 1, 1}, {4, 32, 32, 32}, 64);
  EXPECT_EQ(g.node(vv).storage, x);
  EXPECT_EQ(g.node(vv).storage_offset, 64u);
  NodeId o = g.output(t, "y");
  EXPECT_TRUE(g.node(o).is_output);
  EXPECT_EQ(g.outputs(), std::vector<NodeId>{o});
  EXPECT_TRUE(g.status().ok()) << g.status().to_string();
}

TEST(GraphShapes, ComputeOps) {
  Graph g;
  WeightStore ws;
  NodeId x = g.input(DType::F32, {64, 5, 1, 1});
  NodeId w = g.weight(ws.t(DType::F16, {64, 32, 1, 1}));
  EXPECT_EQ(ne_of(g, g.matmul(w, x)), (Ne{32, 5, 1, 1}));
  NodeId xb = g.input(DType::F32, {64, 5, 4, 2});
  NodeId wb = g.input(DType::F32, {64, 7, 2, 1});
  EXPECT_EQ(ne_of(g, g.matmul(wb, xb)), (Ne{7, 5, 4, 2}));
  NodeId nw = g.input(DType::F32, {64, 1, 1, 1});
  EXPECT_EQ(ne_of(g, g.rms_norm(x, 1e-6f, nw)), (Ne{64, 5, 1, 1}));
  EXPECT_EQ(ne_of(g, g.layer_norm(x, 1e-5f, nw, nw)), (Ne{64, 5, 1, 1}));
  NodeId q = g.input(DType::F32, {16, 4, 5, 1});  // head_dim, n_head, n_tokens
  NodeId pos = g.input(DType::I32, {5, 1, 1, 1});
  EXPECT_EQ(ne_of(g, g.rope(q, pos, RopeParams{8, RopeMode::neox, 1e4f, 1.0f})), (Ne{16, 4, 5, 1}));
  NodeId mask = g.input(DType::F16, {64, 8, 1, 1});
  EXPECT_EQ(ne_of(g, g.softmax(x, 0.5f, mask)), (Ne{64, 5, 1, 1}));
  NodeId qa = g.input(DType::F32, {16, 5, 8, 1});   // D, n_tokens, n_head
  NodeId ka = g.input(DType::F16, {16, 12, 2, 1});  // D, n_kv, n_head_kv
  NodeId va = g.input(DType::F16, {24, 12, 2, 1});
  NodeId am = g.input(DType::F32, {12, 5, 1, 1});
  EXPECT_EQ(ne_of(g, g.attention(qa, ka, va, 0.25f, am)), (Ne{24, 8, 5, 1}));
  for (NodeId u : {g.gelu(x), g.gelu_erf(x), g.gelu_quick(x), g.silu(x), g.scale(x, 2.0f), g.swiglu(x, x)}) {
    EXPECT_EQ(ne_of(g, u), (Ne{64, 5, 1, 1}));
  }
  NodeId bias = g.input(DType::F32, {64, 1, 1, 1});
  EXPECT_EQ(ne_of(g, g.add(x, bias)), (Ne{64, 5, 1, 1}));
  EXPECT_EQ(ne_of(g, g.mul(x, x)), (Ne{64, 5, 1, 1}));
  NodeId table = g.weight(ws.t(DType::F32, {64, 100, 1, 1}));
  NodeId ids = g.input(DType::I32, {3, 1, 1, 1});
  EXPECT_EQ(ne_of(g, g.get_rows(table, ids)), (Ne{64, 3, 1, 1}));
  EXPECT_EQ(ne_of(g, g.concat(x, x, 1)), (Ne{64, 10, 1, 1}));
  EXPECT_EQ(ne_of(g, g.concat(x, bias, 1)), (Ne{64, 6, 1, 1}));
  EXPECT_EQ(g.node(g.cont(g.transpose(x), DType::F16)).t.type, DType::F16);
  NodeId kv = g.input(DType::F16, {64, 5, 1, 1});
  NodeId c = g.cpy(x, kv);
  EXPECT_EQ(g.node(c).storage, kv);
  // conv: kernel [3, 3, 2, 4], image [10, 8, 2, 1], stride 2, pad 1 -> OW 5, OH 4
  NodeId k2 = g.weight(ws.t(DType::F16, {3, 3, 2, 4}));
  NodeId img = g.input(DType::F32, {10, 8, 2, 1});
  ConvParams cp{2, 2, 1, 1, 1, 1, true, DType::F16};
  EXPECT_EQ(ne_of(g, g.im2col(k2, img, cp)), (Ne{18, 5, 4, 1}));
  EXPECT_EQ(g.node(g.im2col(k2, img, cp)).t.type, DType::F16);
  EXPECT_EQ(ne_of(g, g.conv2d(k2, img, cp)), (Ne{5, 4, 4, 1}));
  // 1-D: kernel [3, 2, 6], signal [20, 2, 1], dilation 2 -> (20 - 4 - 1) / 1 + 1 = 16
  NodeId k1 = g.weight(ws.t(DType::F32, {3, 2, 6, 1}));
  NodeId sig = g.input(DType::F32, {20, 2, 1, 1});
  ConvParams c1{1, 1, 0, 0, 2, 1, false, DType::F32};
  EXPECT_EQ(ne_of(g, g.conv1d(k1, sig, c1)), (Ne{16, 6, 1, 1}));
  EXPECT_EQ(ne_of(g, g.im2col(k1, sig, c1)), (Ne{6, 16, 1, 1}));
  EXPECT_TRUE(g.status().ok()) << g.status().to_string();
}

// Each case builds a fresh graph with one bad call.
TEST(GraphShapes, BadInputsNameTheOp) {
  WeightStore ws;
  struct Case { const char* op; NodeId (*build)(Graph&, WeightStore&); };
  const Case cases[] = {
      {"input", [](Graph& g, WeightStore&) { return g.input(DType::F32, {0, 1, 1, 1}); }},
      {"input", [](Graph& g, WeightStore&) { return g.input(DType::Q4_0, {30, 1, 1, 1}); }},
      {"weight", [](Graph& g, WeightStore&) { return g.weight(Tensor::make(DType::F32, {4, 1, 1, 1}, nullptr)); }},
      {"reshape", [](Graph& g, WeightStore&) { return g.reshape(g.input(DType::F32, {4, 3, 1, 1}), {5, 2, 1, 1}); }},
      {"reshape", [](Graph& g, WeightStore&) { return g.reshape(g.transpose(g.input(DType::F32, {4, 3, 1, 1})), {12, 1, 1, 1}); }},
      {"view", [](Graph& g, WeightStore&) { return g.view(g.input(DType::F32, {4, 3, 1, 1}), {4, 3, 1, 1}, {4, 16, 48, 48}, 4); }},
      {"permute", [](Graph& g, WeightStore&) { return g.permute(g.input(DType::F32, {4, 3, 1, 1}), {0, 0, 1, 2}); }},
      {"transpose", [](Graph& g, WeightStore& w) { return g.transpose(g.weight(w.t(DType::Q8_0, {32, 2, 1, 1}))); }},
      {"cpy", [](Graph& g, WeightStore&) { return g.cpy(g.input(DType::F32, {4, 3, 1, 1}), g.input(DType::F32, {4, 2, 1, 1})); }},
      {"cpy", [](Graph& g, WeightStore&) { return g.cpy(g.input(DType::F32, {4, 1, 1, 1}), g.input(DType::I32, {4, 1, 1, 1})); }},
      {"cont", [](Graph& g, WeightStore&) { return g.cont(g.input(DType::I32, {4, 1, 1, 1}), DType::F32); }},
      {"get_rows", [](Graph& g, WeightStore& w) { return g.get_rows(g.weight(w.t(DType::F32, {8, 4, 1, 1})), g.input(DType::F32, {2, 1, 1, 1})); }},
      {"get_rows", [](Graph& g, WeightStore& w) { return g.get_rows(g.weight(w.t(DType::F32, {8, 4, 2, 1})), g.input(DType::I32, {2, 1, 1, 1})); }},
      {"concat", [](Graph& g, WeightStore&) { return g.concat(g.input(DType::F32, {4, 3, 1, 1}), g.input(DType::F32, {5, 3, 1, 1}), 1); }},
      {"concat", [](Graph& g, WeightStore&) { return g.concat(g.input(DType::F32, {4, 3, 1, 1}), g.input(DType::F16, {4, 3, 1, 1}), 1); }},
      {"concat", [](Graph& g, WeightStore&) { NodeId a = g.input(DType::F32, {4, 3, 1, 1}); return g.concat(a, a, 4); }},
      {"matmul", [](Graph& g, WeightStore&) { return g.matmul(g.input(DType::F32, {8, 4, 1, 1}), g.input(DType::F32, {9, 2, 1, 1})); }},
      {"matmul", [](Graph& g, WeightStore&) { return g.matmul(g.input(DType::F32, {8, 4, 1, 1}), g.input(DType::F16, {8, 2, 1, 1})); }},
      {"matmul", [](Graph& g, WeightStore&) { return g.matmul(g.input(DType::F32, {8, 4, 3, 1}), g.input(DType::F32, {8, 2, 4, 1})); }},
      {"rms_norm", [](Graph& g, WeightStore&) { return g.rms_norm(g.input(DType::F32, {8, 4, 1, 1}), 1e-6f, g.input(DType::F32, {7, 1, 1, 1})); }},
      {"rms_norm", [](Graph& g, WeightStore&) { return g.rms_norm(g.input(DType::F16, {8, 4, 1, 1}), 1e-6f); }},
      {"layer_norm", [](Graph& g, WeightStore&) { NodeId x = g.input(DType::F32, {8, 4, 1, 1}); return g.layer_norm(x, 1e-5f, kInvalidNode, g.input(DType::F32, {8, 2, 1, 1})); }},
      {"rope", [](Graph& g, WeightStore&) { return g.rope(g.input(DType::F32, {16, 4, 5, 1}), g.input(DType::I32, {4, 1, 1, 1}), RopeParams{}); }},
      {"rope", [](Graph& g, WeightStore&) { return g.rope(g.input(DType::F32, {16, 4, 5, 1}), g.input(DType::I32, {5, 1, 1, 1}), RopeParams{7}); }},
      {"rope", [](Graph& g, WeightStore&) { return g.rope(g.input(DType::F32, {16, 4, 5, 1}), g.input(DType::I32, {5, 1, 1, 1}), RopeParams{32}); }},
      {"softmax", [](Graph& g, WeightStore&) { return g.softmax(g.input(DType::F32, {8, 4, 1, 1}), 1.0f, g.input(DType::F32, {8, 3, 1, 1})); }},
      {"attention", [](Graph& g, WeightStore&) { return g.attention(g.input(DType::F32, {16, 5, 6, 1}), g.input(DType::F16, {16, 12, 4, 1}), g.input(DType::F16, {16, 12, 4, 1}), 1.0f); }},
      {"attention", [](Graph& g, WeightStore&) { return g.attention(g.input(DType::F32, {16, 5, 8, 1}), g.input(DType::F16, {8, 12, 2, 1}), g.input(DType::F16, {16, 12, 2, 1}), 1.0f); }},
      {"attention", [](Graph& g, WeightStore&) { return g.attention(g.input(DType::F32, {16, 5, 8, 1}), g.input(DType::F16, {16, 12, 2, 1}), g.input(DType::F16, {16, 12, 2, 1}), 1.0f, g.input(DType::F32, {11, 5, 1, 1})); }},
      {"gelu", [](Graph& g, WeightStore&) { return g.gelu(g.input(DType::F16, {8, 1, 1, 1})); }},
      {"gelu_erf", [](Graph& g, WeightStore&) { return g.gelu_erf(g.input(DType::I32, {8, 1, 1, 1})); }},
      {"gelu_quick", [](Graph& g, WeightStore&) { return g.gelu_quick(g.input(DType::F16, {8, 1, 1, 1})); }},
      {"silu", [](Graph& g, WeightStore&) { return g.silu(g.input(DType::F16, {8, 1, 1, 1})); }},
      {"scale", [](Graph& g, WeightStore&) { return g.scale(g.input(DType::F16, {8, 1, 1, 1}), 2.0f); }},
      {"swiglu", [](Graph& g, WeightStore&) { return g.swiglu(g.input(DType::F32, {8, 2, 1, 1}), g.input(DType::F32, {8, 1, 1, 1})); }},
      {"add", [](Graph& g, WeightStore&) { return g.add(g.input(DType::F32, {8, 2, 1, 1}), g.input(DType::F32, {3, 1, 1, 1})); }},
      {"mul", [](Graph& g, WeightStore&) { return g.mul(g.input(DType::F32, {8, 2, 1, 1}), g.input(DType::F16, {8, 2, 1, 1})); }},
      {"im2col", [](Graph& g, WeightStore&) { return g.im2col(g.input(DType::F16, {3, 3, 2, 4}), g.input(DType::F32, {10, 8, 3, 1}), ConvParams{}); }},
      {"conv2d", [](Graph& g, WeightStore&) { return g.conv2d(g.input(DType::F16, {11, 3, 2, 4}), g.input(DType::F32, {10, 8, 2, 1}), ConvParams{}); }},
      {"conv2d", [](Graph& g, WeightStore&) { return g.conv2d(g.input(DType::F16, {3, 3, 2, 4}), g.input(DType::F32, {10, 8, 2, 1}), ConvParams{0}); }},
      {"conv1d", [](Graph& g, WeightStore&) { return g.conv1d(g.input(DType::F32, {3, 2, 6, 1}), g.input(DType::F32, {20, 3, 1, 1}), ConvParams{}); }},
      {"output", [](Graph& g, WeightStore&) { return g.output(57); }},
  };
  for (const Case& c : cases) {
    Graph g;
    NodeId id = c.build(g, ws);
    SCOPED_TRACE(c.op);
    expect_error(g, id, c.op);
  }
}

// conv1d_rows: weight [C*k, OC], x [C, T], optional bias and residual ([OC, T_out]) as its
// sources in that order; a residual of another shape names the op.
TEST(GraphShapes, Conv1dRowsTakesABiasAndAResidual) {
  Graph g;
  NodeId x = g.input(DType::F32, {4, 10, 1, 1});
  NodeId w = g.input(DType::F32, {4 * 3, 6, 1, 1});
  NodeId b = g.input(DType::F32, {6, 1, 1, 1});
  NodeId r = g.input(DType::F32, {6, 10, 1, 1});
  const Conv1dRowsParams p{3, 1, 1, 1, 0.1f};
  NodeId y = g.conv1d_rows(w, x, b, p, r);
  ASSERT_NE(y, kInvalidNode) << g.status().message();
  const Node n = g.node(y);
  EXPECT_EQ(n.t.ne, (Ne{6, 10, 1, 1}));
  ASSERT_EQ(n.n_src, 4);
  EXPECT_EQ(n.src[3], r);
  EXPECT_TRUE(std::get<Conv1dRowsParams>(n.params).residual);
  NodeId plain = g.conv1d_rows(w, x, kInvalidNode, p, r);  // no bias: the residual is the third
  ASSERT_NE(plain, kInvalidNode);
  EXPECT_EQ(g.node(plain).n_src, 3);
  EXPECT_FALSE(std::get<Conv1dRowsParams>(g.node(g.conv1d_rows(w, x, b, p)).params).residual);
  expect_error(g, g.conv1d_rows(w, x, b, p, g.input(DType::F32, {6, 9, 1, 1})), "conv1d_rows");
}

TEST(GraphShapes, FirstErrorIsKeptAndPropagates) {
  Graph g;
  NodeId bad = g.matmul(g.input(DType::F32, {8, 4, 1, 1}), g.input(DType::F32, {9, 2, 1, 1}));
  NodeId next = g.silu(g.add(bad, bad));
  EXPECT_EQ(next, kInvalidNode);
  EXPECT_EQ(g.status().message().rfind("matmul:", 0), 0u) << g.status().message();
  EXPECT_NE(g.status().message().find("f32[9, 2, 1, 1]"), std::string::npos) << g.status().message();
}

}  // namespace
}  // namespace nm
