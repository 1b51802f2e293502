// Chat template recognition and rendering against hand-written expected prompts.
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

namespace nm {
namespace {

const char* k_qwen2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";

TEST(ChatTemplate, RecognisesFamilies) {
  EXPECT_EQ(ChatTemplate::from_jinja("...<|start_header_id|>x<|end_header_id|>...")->family(), ChatFamily::llama3);
  EXPECT_EQ(ChatTemplate::from_jinja("[INST] <<SYS>>")->family(), ChatFamily::llama2);
  auto q = ChatTemplate::from_jinja(k_qwen2);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->family(), ChatFamily::chatml);
  EXPECT_EQ(q->default_system(), "You are a helpful assistant.");
  // Qwen2.5 shape: the tools branch opens "<|im_start|>system\n" followed by Jinja code,
  // the literal default comes later.
  auto q25 = ChatTemplate::from_jinja(
      "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}"
      "{{- messages[0]['content'] }}{%- endif %}{%- else %}{%- if messages[0]['role'] != 'system' %}"
      "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}");
  ASSERT_TRUE(q25.ok());
  EXPECT_EQ(q25->default_system(), "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  EXPECT_EQ(ChatTemplate::from_jinja("{{'<|im_start|>' + message['role'] + '\\n'}}")->default_system(), "");
  auto bad = ChatTemplate::from_jinja("<|user|>");
  EXPECT_EQ(bad.status().code(), ErrorCode::unsupported);
  EXPECT_NE(bad.status().message().find("--template"), std::string::npos);
  EXPECT_EQ(ChatTemplate::select("llama2", "<|im_start|>")->family(), ChatFamily::llama2);
  EXPECT_EQ(ChatTemplate::from_jinja("{{ '<start_of_turn>' + role }}...<end_of_turn>")->family(), ChatFamily::gemma);
  EXPECT_EQ(ChatTemplate::from_name("gemma")->family(), ChatFamily::gemma);
  EXPECT_FALSE(ChatTemplate::from_name("vicuna").ok());
}

Tokenizer vocab_with(std::vector<std::string> tokens, std::vector<int32_t> types) {
  Vocab v;
  v.tokens = std::move(tokens);
  v.token_type = std::move(types);
  return Tokenizer::create(std::move(v)).value();
}

TEST(ChatTemplate, FileWithoutTemplateFallsBackOnTheVocabularysTurnMarkers) {
  // Gemma 3 GGUFs may carry no tokenizer.chat_template; their vocab has the turn markers.
  const Tokenizer gemma = vocab_with({"<pad>", "<start_of_turn>", "<end_of_turn>", "a"}, {3, 3, 3, 1});
  EXPECT_EQ(ChatTemplate::select("", gemma)->family(), ChatFamily::gemma);
  EXPECT_EQ(ChatTemplate::select("llama3", gemma)->family(), ChatFamily::llama3);
  const Tokenizer chatml = vocab_with({"<|im_start|>", "<|im_end|>", "a"}, {3, 3, 1});
  EXPECT_EQ(ChatTemplate::select("", chatml)->family(), ChatFamily::chatml);
  // markers that are plain text tokens are not turn markers
  const Tokenizer plain = vocab_with({"<start_of_turn>", "<end_of_turn>", "a"}, {1, 1, 1});
  EXPECT_EQ(ChatTemplate::select("", plain).status().code(), ErrorCode::unsupported);
}

TEST(ChatTemplate, RendersEachFamily) {
  ChatRenderOptions o;
  o.bos_token = "<|begin_of_text|>";
  auto l3 = ChatTemplate::from_name("llama3");
  EXPECT_EQ((l3->render({{"system", "Be brief. ", 0}, {"user", "Hi", 0}}, o)).value(),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");

  auto l31 = ChatTemplate::from_jinja("{{- bos_token }}<|start_header_id|>...<|end_header_id|>"
                                     "{{- \"Cutting Knowledge Date: December 2023\\n\" }}");
  ASSERT_TRUE(l31.ok());
  EXPECT_TRUE(l31->knowledge_date_header());
  EXPECT_EQ(l31->render({{"user", "Hi", 0}}, o).value(),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  o.date_string = "24 Nov 2026";
  EXPECT_EQ(l31->render({{"system", " S ", 0}, {"user", "Hi", 0}}, o).value(),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            "Cutting Knowledge Date: December 2023\nToday Date: 24 Nov 2026\n\nS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");

  auto q = ChatTemplate::from_jinja(k_qwen2);
  ChatRenderOptions qo;
  EXPECT_EQ((q->render({{"user", "Hi", 1}}, qo)).value(),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\n<__image__>Hi<|im_end|>\n<|im_start|>assistant\n");

  ChatRenderOptions lo;
  lo.bos_token = "<s>";
  lo.eos_token = "</s>";
  lo.add_generation_prompt = false;
  auto l2 = ChatTemplate::from_name("llama2");
  EXPECT_EQ((l2->render({{"system", "S", 0}, {"user", " Hi ", 0}, {"assistant", "Hello", 0}, {"user", "Bye", 0}}, lo)).value(),
            // strip() applies to the whole "<<SYS>>...\n\n Hi " block, so the inner space stays.
            "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\n Hi [/INST] Hello </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(l2->render({{"assistant", "x", 0}}, lo).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(l2->stop_strings(), std::vector<std::string>{"</s>"});

  ChatRenderOptions go;
  go.bos_token = "<bos>";
  auto gm = ChatTemplate::from_name("gemma");
  // system text (untrimmed) + "\n\n" opens the first user turn; assistant is "model"
  EXPECT_EQ((gm->render({{"system", "Be brief. ", 0}, {"user", " Hi ", 0}, {"assistant", "Hello", 0}, {"user", "2+2?", 0}}, go))
                .value(),
            "<bos><start_of_turn>user\nBe brief. \n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
            "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(gm->render({{"assistant", "x", 0}}, go).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(gm->stop_strings(), (std::vector<std::string>{"<end_of_turn>", "<eos>"}));
}

}  // namespace
}  // namespace nm
