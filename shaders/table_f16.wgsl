// Hash tables stored as f16, two values to a word (blend.wgsl), read and summed in f32.

alias TableWord = u32;
alias TableValue = vec2<f32>;

fn unpack_table(word: u32) -> vec2<f32> {
    return unpack2x16float(word);
}

fn pack_table(value: vec2<f32>) -> u32 {
    return pack2x16float(value);
}
