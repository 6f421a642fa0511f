use tandem_llm::budget::CHUNK_SEPARATOR;
use tandem_llm::tokens::{count_tokens, estimate_message, estimate_tokens, MESSAGE_OVERHEAD, PROMPT_OVERHEAD, TOKEN_FACTOR};
use tandem_llm::{ChatMessage, LlmError, PromptBudget};

/// About `n` cl100k tokens of text.
fn words(n: usize) -> String {
    vec!["word"; n].join(" ")
}

fn fixed() -> Vec<ChatMessage> {
    vec![ChatMessage::system(format!("You are a support agent. {}", words(40))), ChatMessage::user("How many days do I have to return?")]
}

fn fixed_cost() -> u32 {
    fixed().iter().map(estimate_message).sum::<u32>() + PROMPT_OVERHEAD
}

fn chunk_cost(text: &str) -> u32 {
    estimate_tokens(text) + CHUNK_SEPARATOR
}

#[test]
fn the_estimate_is_cl100k_scaled_up_plus_template_overhead() {
    assert_eq!(count_tokens(&words(100)), 100);
    for n in [1, 7, 100, 333] {
        let text = words(n);
        let exact = count_tokens(&text);
        assert!(f64::from(estimate_tokens(&text)) >= f64::from(exact) * TOKEN_FACTOR);
        assert!(estimate_tokens(&text) <= exact * 2 / 10 + exact + 1, "not wildly above ×1.15");
    }
    assert_eq!(estimate_message(&ChatMessage::user("")), MESSAGE_OVERHEAD);
}

#[test]
fn everything_is_kept_when_there_is_room() {
    let chunks = [words(50), words(60)];
    let history = [ChatMessage::assistant("Hello, how can I help?"), ChatMessage::user("Hi")];
    let plan = PromptBudget::new(4096, 512).plan(&fixed(), &chunks, &history).unwrap();
    assert_eq!(plan.chunks_kept, vec![0, 1]);
    assert!(plan.chunks_dropped.is_empty());
    assert_eq!((plan.history_kept, plan.history_dropped), (2, 0));
    let expected = fixed_cost()
        + MESSAGE_OVERHEAD
        + chunks.iter().map(|c| chunk_cost(c)).sum::<u32>()
        + history.iter().map(estimate_message).sum::<u32>();
    assert_eq!(plan.prompt_tokens, expected);
    assert_eq!(plan.prompt_limit, 4096 - 512);
}

#[test]
fn chunks_come_before_history_and_history_keeps_the_newest() {
    let chunks = [words(300), words(300)];
    let history: Vec<ChatMessage> = (0..10).map(|i| ChatMessage::user(format!("message {i} {}", words(30)))).collect();
    let per_message = estimate_message(&history[0]);
    // Room for both chunks and exactly three history messages.
    let limit = fixed_cost() + MESSAGE_OVERHEAD + chunks.iter().map(|c| chunk_cost(c)).sum::<u32>() + 3 * per_message + per_message / 2;
    let plan = PromptBudget::new(limit + 100, 100).plan(&fixed(), &chunks, &history).unwrap();
    assert_eq!(plan.chunks_kept, vec![0, 1]);
    assert_eq!((plan.history_kept, plan.history_dropped), (3, 7));
    assert!(plan.prompt_tokens <= plan.prompt_limit);
}

#[test]
fn a_chunk_too_large_is_dropped_while_smaller_later_ones_still_fit() {
    let chunks = [words(100), words(2000), words(100)];
    let limit = fixed_cost() + MESSAGE_OVERHEAD + chunk_cost(&chunks[0]) + chunk_cost(&chunks[2]) + 10;
    let plan = PromptBudget::new(limit + 256, 256).plan(&fixed(), &chunks, &[]).unwrap();
    assert_eq!(plan.chunks_kept, vec![0, 2]);
    assert_eq!(plan.chunks_dropped, vec![1]);
}

#[test]
fn history_stops_at_the_first_message_that_does_not_fit_leaving_no_gap() {
    let history = [ChatMessage::user("newest, short"), ChatMessage::assistant(words(1000)), ChatMessage::user("oldest, short")];
    let limit = fixed_cost() + estimate_message(&history[0]) + estimate_message(&history[2]) + 50;
    let plan = PromptBudget::new(limit + 64, 64).plan(&fixed(), &[] as &[&str], &history).unwrap();
    assert_eq!((plan.history_kept, plan.history_dropped), (1, 2), "the oldest would fit, but not after a gap");
}

#[test]
fn fixed_parts_that_leave_no_room_for_the_answer_are_a_context_overflow() {
    let fixed = vec![ChatMessage::system(words(1000)), ChatMessage::user("hi")];
    match PromptBudget::new(1024, 256).plan(&fixed, &[] as &[&str], &[]) {
        Err(LlmError::ContextOverflow { prompt_tokens: Some(needed), context_tokens: Some(1024) }) => assert!(needed > 1024),
        other => panic!("expected ContextOverflow, got {other:?}"),
    }
    assert!(PromptBudget::new(512, 4096).plan(&[ChatMessage::user("hi")], &[] as &[&str], &[]).is_err(), "reserve larger than context");
}

#[test]
fn the_plan_never_exceeds_the_limit_and_its_count_is_what_was_kept() {
    let chunks: Vec<String> = (0..12).map(|i| words(20 + 37 * i % 400)).collect();
    let history: Vec<ChatMessage> = (0..15).map(|i| ChatMessage::user(words(5 + 53 * i % 200))).collect();
    for context in (600..6000).step_by(250) {
        let plan = PromptBudget::new(context, 300).plan(&fixed(), &chunks, &history).unwrap();
        assert!(plan.prompt_tokens <= plan.prompt_limit, "context {context}: {} > {}", plan.prompt_tokens, plan.prompt_limit);
        let kept_chunks: u32 = plan.chunks_kept.iter().map(|&i| chunk_cost(&chunks[i])).sum();
        let block = if plan.chunks_kept.is_empty() { 0 } else { MESSAGE_OVERHEAD };
        let kept_history: u32 = history[..plan.history_kept].iter().map(estimate_message).sum();
        assert_eq!(plan.prompt_tokens, fixed_cost() + block + kept_chunks + kept_history, "context {context}");
        assert_eq!(plan.chunks_kept.len() + plan.chunks_dropped.len(), chunks.len());
        assert_eq!(plan.history_kept + plan.history_dropped, history.len());
    }
}
