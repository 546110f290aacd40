// Example decks, embedded so the page works offline and needs nothing but the server.
// The English one is Markdown (exercises the server's parser), the Chinese one is the
// seed's JSON request shape.

export const EXAMPLE_EN = `---
title: Launching slidebatch
style: Clean corporate style, deep blue #1F3A5F background accents, gold #C9A227 highlights, white space, flat icons
aspect_ratio: 16:9
---
# Launching slidebatch
From outline to finished slides in minutes
visual: a calm city skyline at dawn seen through a large office window

---
# The problem
- Designing every slide by hand takes hours
- Image models are slow one request at a time
- Rate limits punish naive parallelism
visual: a tired designer surrounded by stacks of paper

---
# How it works
- One style prompt for the whole deck
- Slides generated in parallel, as fast as the rate limit allows
- Failed slides retried, never lost
visual: a clean flow diagram from outline to slide images

---
# Results
- 20 slides in about the time of two
- Consistent look across the deck
- Export to PPTX, PDF and ZIP
visual: an upward trending bar chart in blue and gold

---
# Thank you
Questions welcome
visual: a simple handshake illustration
`;

export const EXAMPLE_ZH = JSON.stringify(
  {
    title: "2025 年度业务回顾",
    style_prompt: "商务简洁风格，深蓝 #1A365D 主色，金色 #D4AF37 点缀，留白充足，扁平图标",
    aspect_ratio: "16:9",
    slides: [
      {
        id: "cover",
        page_num: 1,
        type: "cover",
        title: "2025 年度业务回顾",
        content_text: "稳健增长 · 持续创新",
        visual_desc: "城市天际线与晨光，简洁大气",
      },
      {
        id: "growth",
        page_num: 2,
        type: "content",
        title: "营收增长",
        content_text: "全年营收同比增长 32%\n新客户数量突破 1200 家\n续约率保持在 95% 以上",
        visual_desc: "向上增长的柱状图，深蓝与金色",
      },
      {
        id: "product",
        page_num: 3,
        type: "content",
        title: "产品进展",
        content_text: "发布三个核心版本\n平均响应时间缩短 40%\n上线多语言支持",
        visual_desc: "简洁的产品路线图时间轴",
      },
      {
        id: "plan",
        page_num: 4,
        type: "content",
        title: "2026 规划",
        content_text: "拓展海外市场\n加大研发投入\n提升客户成功体系",
        visual_desc: "指向远方的道路与地图",
      },
      {
        id: "ending",
        page_num: 5,
        type: "ending",
        title: "谢谢观看",
        content_text: "欢迎交流与提问",
        visual_desc: "简洁的握手插画",
      },
    ],
  },
  null,
  2,
);
